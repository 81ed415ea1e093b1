"""Human tasks: seeing and claiming them, and who may complete them now (who may:
:mod:`app.services.policy`; completing itself is :mod:`app.services.completion`)."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.data.db import rowcount
from app.data.models import HumanTask, TaskState, User
from app.data.queries.tasks import open_delegation
from app.engine import audit
from app.engine.context import Actor
from app.engine.errors import NotFound, TaskNotOpen
from app.i18n import N_
from app.services import accounts, policy
from app.services.four_eyes import check_four_eyes
from app.services.policy import stand_in


def actor_for(user: User, task: HumanTask | None = None) -> Actor:
    """The audit actor; a substitute acting on a task of the person they stand in for is
    labelled "<substitute> (on behalf of <principal>)"."""
    label = user.display_name or user.username
    if task is not None and task.assignee_id not in (None, user.id):
        names = dict(stand_in(user).names)
        if task.assignee_id in names:
            label = f"{label} (on behalf of {names[task.assignee_id]})"
    return accounts.actor(user, label)


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
    if rowcount(result) == 0:
        raise TaskNotOpen(N_("Someone else has already claimed this task."))
    before = task.assignee_id
    session.refresh(task)
    if before != user.id:
        audit.record(session, actor=actor_for(user, task), action="task_claimed", task=task,
                     before={"assignee_id": before}, after={"assignee_id": user.id})
    return task


def unclaim(session: Session, user: User, task_id: str) -> HumanTask:
    task = get_visible(session, user, task_id)
    if task.state != TaskState.OPEN:
        raise TaskNotOpen(N_("This task is no longer open."))
    policy.require(policy.may_release(user, task),
                   N_("Only the assignee or the department head can release this task."))
    before = task.assignee_id
    task.assignee_id = None
    session.flush()
    audit.record(session, actor=actor_for(user, task), action="task_released", task=task,
                 before={"assignee_id": before}, after={"assignee_id": None})
    return task


def authorize_completion(session: Session, user: User, task_id: str) -> HumanTask:
    """Refuse early (before a submission is read) a user who may not complete the task; a task
    that is no longer open is left to the completion itself (a repeated submit is answered there)."""
    task = get_visible(session, user, task_id)
    if task.state == TaskState.OPEN:
        policy.require_complete(user, task)
    return task


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
    check_four_eyes(session, user, task)
    return task


def next_for(session: Session, user: User, case_id: int | None) -> HumanTask | None:
    """The case's oldest open task ``user`` may do now (to offer after a submit or at intake)."""
    if case_id is None:
        return None
    rows = session.scalars(select(HumanTask).where(HumanTask.case_id == case_id, HumanTask.state == TaskState.OPEN)
                           .order_by(HumanTask.created_at, HumanTask.id))
    return next((task for task in rows if policy.may_complete(user, task)), None)
