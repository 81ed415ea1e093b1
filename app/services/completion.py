"""Completing a human task: the one use case behind the task page, the API, the approvals
screen and the delegator's final check.

In this order: load the task and check that the user may complete it now; validate the
submission with the task's form (:func:`app.formkit.build.validate`: field rules, file
rules, structure — the same for every channel); store the uploads only then; complete the
task in the engine. The task's data is read once to see the files it already has, and the
engine completes the task on that same loaded workflow (see ``WorkflowRuntime.task_data``).
Callers own the transaction: commit when the result is ``ok``, roll back otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from app.data.models import HumanTask, TaskState, User
from app.engine.errors import TaskNotOpen
from app.engine.runtime import WorkflowRuntime
from app.formkit.build import FileStore, data_keys, existing_files, validate, with_files
from app.formkit.uploads import DEFAULT_MAX_FILE_BYTES
from app.i18n import N_
from app.services.choices import DatabaseChoices
from app.services.drafts import discard_drafts
from app.services.forms import definition_for_task, with_task_data
from app.services.tasks import actor_for, check_can_complete, has_drafts

#: what a user is told when the task was completed (or closed) before their submit landed
ALREADY_DONE = N_("This task has already been completed by someone else. Nothing was saved.")


@dataclass
class Submission:
    """What a user sent for a task's form, from any channel.

    ``form``: the fields an HTML form posted (a MultiDict); ``data``: a JSON object (API,
    approvals); ``files``: uploads by field name (a MultiDict of objects with ``filename``,
    ``content_type`` and ``stream``, e.g. werkzeug's FileStorage). Set ``form`` or ``data``.
    ``received``: files stored on an earlier try of the form (by field), used with the new
    ones; ``max_bytes``: the size limit per file where a field states none; ``refused``: why
    the request's files could not be received (too large), which makes it invalid.
    """

    form: Any = None
    data: Any = None
    files: Any = None
    locale: str = "zh"
    received: dict[str, list[dict[str, Any]]] | None = None
    max_bytes: int = DEFAULT_MAX_FILE_BYTES
    refused: str | None = None


@dataclass
class Completion:
    """The outcome: the task (completed when ``ok``), or the errors per field with the bound
    form to show them on; ``files`` are those the task already had; ``repeated`` when the
    same submit token had completed it before (nothing was done again)."""

    task: HumanTask
    definition: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    form: Any = None
    files: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    repeated: bool = False
    #: the instance's open tasks after the completion, when it saved the instance (None else)
    open_tasks: list[HumanTask] | None = None

    @property
    def ok(self) -> bool:
        return not self.errors


def read_submission(
    session: Session,
    runtime: WorkflowRuntime,
    task: HumanTask,
    submission: Submission,
    *,
    store_file: FileStore | None = None,
    based_on: dict[str, Any] | None = None,
    completing: bool = False,
) -> Completion:
    """Validate ``submission`` with ``task``'s form and, when it is valid, store its uploads;
    ``data`` is then what the task is to be completed with. Call it once the user is known
    to be allowed. ``based_on`` (e.g. a delegate's draft) overrides the task's data when
    looking for the files it already has; ``completing``: the task is completed next in this
    transaction (see ``WorkflowRuntime.task_data``)."""
    definition = definition_for_task(session, task)
    needs_data = data_keys(definition) or any(spec["type"] in ("file", "files") for spec in definition["fields"])
    current = runtime.task_data(session, task.id, completing=completing) if needs_data else {}
    definition = with_task_data(definition, lambda: current)
    files = existing_files(definition, {**current, **(based_on or {})})
    validation = validate(
        definition, submission.locale, DatabaseChoices(session),
        data=submission.data, formdata=submission.form, files=submission.files, existing=files,
        received=submission.received, max_bytes=submission.max_bytes,
    )
    errors = {**validation.errors, **({"request": [submission.refused]} if submission.refused else {})}
    result = Completion(task, definition, errors, validation.form, files)
    if result.ok:
        result.data = with_files(definition, validation, store_file, files, submission.received)
    return result


def complete_task(
    session: Session,
    runtime: WorkflowRuntime,
    user: User,
    task_id: str,
    submission: Submission,
    *,
    store_file: FileStore | None = None,
    submit_token: str | None = None,
    based_on: dict[str, Any] | None = None,
) -> Completion:
    """Complete task ``task_id`` as ``user`` with ``submission``.

    Raises NotFound, Forbidden (nothing is validated or stored then) and TaskNotOpen (the
    task was completed or closed meanwhile), or the engine's ConcurrentUpdate and
    InstanceNotRunning. A repeated submit with the same ``submit_token`` returns the task
    it completed (``repeated``); an invalid submission returns its errors and changes nothing.
    """
    try:
        task = check_can_complete(session, user, task_id, submit_token)
    except TaskNotOpen as exc:
        raise TaskNotOpen(ALREADY_DONE) from exc
    if task.state != TaskState.OPEN:
        return Completion(task, repeated=True)
    result = read_submission(session, runtime, task, submission, store_file=store_file, based_on=based_on,
                             completing=True)
    if not result.ok:
        return result
    try:
        result.task = runtime.complete_task(session, task.id, result.data, actor_for(user, task), submit_token)
    except TaskNotOpen as exc:
        raise TaskNotOpen(ALREADY_DONE) from exc
    result.open_tasks = runtime.open_tasks_after(session, result.task.instance_id)
    if has_drafts(session, task.id):  # read with the task: most tasks have none
        discard_drafts(session, task.id)
    return result
