"""Human tasks: who may see and act on them, claiming, and who may complete them now
(completing itself is :mod:`app.services.completion`)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.orm import Session, object_session

from app.clock import clock, local_zone
from app.data.models import DelegationState, HumanTask, TaskState, User
from app.data.queries.people import substituted_users
from app.data.queries.tasks import open_delegation
from app.engine.context import Actor
from app.engine.errors import NotFound, TaskNotOpen
from app.i18n import N_
from app.services.errors import Forbidden


@dataclass(frozen=True)
class StandIn:
    """Whom a user substitutes today: their user ids, names and department ids."""

    user_ids: frozenset[int] = frozenset()
    department_ids: frozenset[int] = frozenset()
    names: tuple[tuple[int, str], ...] = ()


def stand_in(user: User) -> StandIn:
    """The people (and their departments) ``user`` stands in for today (local date)."""
    session = object_session(user)
    if session is None or user.id is None:
        return StandIn()
    principals = substituted_users(session, user.id, clock.now().astimezone(local_zone()).date())
    return StandIn(
        frozenset(p.id for p in principals),
        frozenset(d for p in principals for d in p.department_ids),
        tuple((p.id, p.display_name or p.username) for p in principals),
    )


def actor_for(user: User, task: HumanTask | None = None) -> Actor:
    """The audit actor; a substitute acting on a task of the person they stand in for is
    labelled "<substitute> (on behalf of <principal>)"."""
    label = user.display_name or user.username
    if task is not None and task.assignee_id not in (None, user.id):
        names = dict(stand_in(user).names)
        if task.assignee_id in names:
            label = f"{label} (on behalf of {names[task.assignee_id]})"
    return Actor(user.id, label[:120])


def can_view(user: User, task: HumanTask) -> bool:
    """Members of the task's department, its assignee, admins/managers/auditors, and a
    substitute of the assignee or of a department member while the substitution lasts."""
    if (
        task.assignee_id == user.id
        or (task.department_id is not None and task.department_id in user.department_ids)
        or user.has_role("admin", "manager", "auditor")
    ):
        return True
    standing = stand_in(user)
    return task.assignee_id in standing.user_ids or (
        task.department_id is not None and task.department_id in standing.department_ids
    )


def can_act(user: User, task: HumanTask) -> bool:
    """The assignee; or, while unassigned, a member of the task's department — each also
    through a substitute while the substitution lasts."""
    if task.state != TaskState.OPEN:
        return False
    if task.assignee_id is not None:
        if task.assignee_id == user.id or (
            task.department_id is not None and task.department_id in user.head_of_ids
        ):
            return True
        return task.assignee_id in stand_in(user).user_ids
    if task.department_id is None:
        return False
    return task.department_id in user.department_ids or task.department_id in stand_in(user).department_ids


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
    if task.department_id not in user.department_ids and task.department_id not in stand_in(user).department_ids:
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


def check_can_complete(session: Session, user: User, task_id: str, submit_token: str | None = None) -> HumanTask:
    """The task, if ``user`` may complete it now; raises Forbidden/TaskNotOpen/NotFound."""
    task = get_visible(session, user, task_id)
    if task.state != TaskState.OPEN:
        if submit_token and task.completion_token == submit_token:
            return task
        raise TaskNotOpen(N_("This task has already been completed or is no longer open."))
    if not can_act(user, task):
        raise Forbidden(N_("You may not act on this task."))
    delegation = open_delegation(session, task.id)
    if delegation is not None and delegation.state == DelegationState.ACTIVE and delegation.delegate_id == user.id:
        raise Forbidden(N_("This task was delegated to you: save your work from the inbox; "
                           "it goes back to the delegator for a final check."))
    from app.services.approvals import check_four_eyes  # late: approvals builds on this module

    check_four_eyes(session, user, task)
    return task
