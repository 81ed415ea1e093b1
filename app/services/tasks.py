"""Human tasks: seeing, claiming and completing them with form data (who may: app.services.policy)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.orm import Session

from app.data.models import HumanTask, TaskState, User
from app.data.queries import open_delegation
from app.engine.context import Actor
from app.engine.errors import NotFound, TaskNotOpen
from app.engine.runtime import WorkflowRuntime
from app.formkit.build import Validation
from app.i18n import N_
from app.services import policy
from app.services.forms import definition_for_task, validate_submission, with_task_data
from app.services.policy import stand_in

LOCAL_TZ = ZoneInfo("Asia/Shanghai")


def actor_for(user: User, task: HumanTask | None = None) -> Actor:
    """The audit actor; a substitute acting on a task of the person they stand in for is
    labelled "<substitute> (on behalf of <principal>)"."""
    label = user.display_name or user.username
    if task is not None and task.assignee_id not in (None, user.id):
        names = dict(stand_in(user).names)
        if task.assignee_id in names:
            label = f"{label} (on behalf of {names[task.assignee_id]})"
    return Actor(user.id, label[:120])


def get_visible(session: Session, user: User, task_id: str) -> HumanTask:
    task = session.get(HumanTask, task_id)
    if task is None:
        raise NotFound(N_("Task not found."))
    policy.require(policy.may_view_task(user, task), N_("You may not see this task."))
    return task


def claim(session: Session, user: User, task_id: str) -> HumanTask:
    """Assign an open, unassigned task of the user's department to the user (race-safe)."""
    task = get_visible(session, user, task_id)
    if task.state != TaskState.OPEN:
        raise TaskNotOpen(N_("This task is no longer open."))
    policy.require_claim(user, task)
    result = session.execute(
        update(HumanTask)
        .where(HumanTask.id == task_id, HumanTask.state == TaskState.OPEN)
        .where((HumanTask.assignee_id.is_(None)) | (HumanTask.assignee_id == user.id))
        .values(assignee_id=user.id)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 0:
        raise TaskNotOpen(N_("Someone else has already claimed this task."))
    session.refresh(task)
    return task


def unclaim(session: Session, user: User, task_id: str) -> HumanTask:
    task = get_visible(session, user, task_id)
    if task.state != TaskState.OPEN:
        raise TaskNotOpen(N_("This task is no longer open."))
    policy.require(policy.may_release(user, task),
                   N_("Only the assignee or the department head can release this task."))
    task.assignee_id = None
    session.flush()
    return task


def authorize_completion(session: Session, user: User, task_id: str) -> HumanTask:
    """Refuse early (before a submission is read) a user who may not complete the task; a task
    that is no longer open is left to the completion itself (a repeated submit is answered there)."""
    task = get_visible(session, user, task_id)
    if task.state == TaskState.OPEN:
        policy.require_complete(user, task)
    return task


@dataclass
class Completion:
    task: HumanTask | None
    validation: Validation


def check_can_complete(session: Session, user: User, task_id: str, submit_token: str | None = None) -> HumanTask:
    """The task, if ``user`` may complete it now; raises Forbidden/TaskNotOpen/NotFound."""
    task = get_visible(session, user, task_id)
    if task.state != TaskState.OPEN:
        if submit_token and task.completion_token == submit_token:
            return task
        raise TaskNotOpen(N_("This task has already been completed or is no longer open."))
    policy.require_complete(user, task)
    policy.require(not policy.drafts_for(user, open_delegation(session, task.id)),
                   N_("This task was delegated to you: save your work from the inbox; "
                      "it goes back to the delegator for a final check."))
    from app.services.approvals import check_four_eyes  # late: approvals builds on this module

    check_four_eyes(session, user, task)
    return task


def complete_validated(
    session: Session,
    runtime: WorkflowRuntime,
    user: User,
    task_id: str,
    data: dict[str, Any],
    submit_token: str | None = None,
) -> HumanTask:
    """Complete a task with data its form has already validated (the HTML path)."""
    task = check_can_complete(session, user, task_id, submit_token)
    if task.state != TaskState.OPEN:  # a repeated submit of the same token
        return task
    return runtime.complete_task(session, task_id, data, actor_for(user, task), submit_token)


def complete(
    session: Session,
    runtime: WorkflowRuntime,
    user: User,
    task_id: str,
    payload: Any,
    locale: str,
    submit_token: str | None = None,
) -> Completion:
    """Validate JSON ``payload`` with the task's form and complete the task (the API path).

    Invalid data returns the per-field errors and changes nothing. A task that is no longer
    open raises TaskNotOpen (unless this is a repeat of the same submit token).
    """
    task = check_can_complete(session, user, task_id, submit_token)
    if task.state != TaskState.OPEN:
        return Completion(task, Validation({}, {}))
    definition = with_task_data(definition_for_task(session, task), lambda: runtime.task_data(session, task_id))
    validation = validate_submission(session, definition, payload, locale)
    if not validation.ok:
        return Completion(None, validation)
    done = runtime.complete_task(session, task_id, validation.data, actor_for(user, task), submit_token)
    return Completion(done, validation)
