"""Human tasks: who may see and act on them, claiming, and completing with form data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from app.data.models import HumanTask, TaskState, User
from app.engine.errors import EngineError, NotFound, TaskNotOpen
from app.engine.runtime import Actor, WorkflowRuntime
from app.formkit.build import Validation
from app.i18n import N_
from app.services.forms import definition_for_task, validate_submission


class Forbidden(EngineError):
    code = "forbidden"


def actor_for(user: User) -> Actor:
    return Actor(user.id, user.display_name or user.username)


def can_view(user: User, task: HumanTask) -> bool:
    """Members of the task's department, its assignee, and admins/managers/auditors."""
    return (
        task.assignee_id == user.id
        or (task.department_id is not None and task.department_id in user.department_ids)
        or user.has_role("admin", "manager", "auditor")
    )


def can_act(user: User, task: HumanTask) -> bool:
    """The assignee; or, while unassigned, a member of the task's department."""
    if task.state != TaskState.OPEN:
        return False
    if task.assignee_id is not None:
        return task.assignee_id == user.id or (
            task.department_id is not None and task.department_id in user.head_of_ids
        )
    return task.department_id is not None and task.department_id in user.department_ids


def get_visible(session: Session, user: User, task_id: str) -> HumanTask:
    task = session.get(HumanTask, task_id)
    if task is None:
        raise NotFound(N_("Task not found."))
    if not can_view(user, task):
        raise Forbidden(N_("You may not see this task."))
    return task


def claim(session: Session, user: User, task_id: str) -> HumanTask:
    """Assign an open, unassigned task of the user's department to the user (race-safe)."""
    task = get_visible(session, user, task_id)
    if task.state != TaskState.OPEN:
        raise TaskNotOpen(N_("This task is no longer open."))
    if task.department_id not in user.department_ids:
        raise Forbidden(N_("You may not act on this task."))
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
    if task.assignee_id != user.id and task.department_id not in user.head_of_ids:
        raise Forbidden(N_("Only the assignee or the department head can release this task."))
    task.assignee_id = None
    session.flush()
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
    if not can_act(user, task):
        raise Forbidden(N_("You may not act on this task."))
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
    return runtime.complete_task(session, task_id, data, actor_for(user), submit_token)


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
    definition = definition_for_task(session, task)
    validation = validate_submission(session, definition, payload, locale)
    if not validation.ok:
        return Completion(None, validation)
    done = runtime.complete_task(session, task_id, validation.data, actor_for(user), submit_token)
    return Completion(done, validation)
