"""Human tasks: seeing and claiming them, and who may complete them now (who may:
:mod:`app.services.policy`; completing itself is :mod:`app.services.completion`)."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Select, bindparam, exists, select, update
from sqlalchemy.orm import Session

from app.data.db import rowcount
from app.data.models import DelegationState, FormDefinition, HumanTask, TaskDelegation, TaskDraft, TaskState, User
from app.data.queries import history, people
from app.data.transaction_memo import transaction_key
from app.engine import audit
from app.engine.context import Actor
from app.engine.errors import NotFound, TaskNotOpen
from app.i18n import N_
from app.services import accounts, forms, policy
from app.services.four_eyes import check_four_eyes, remember_submitters
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


#: ``Session.info`` key: per task id read by :func:`read_for_completion` in this transaction,
#: its open delegation and whether it has drafts
COMPLETION_READ_KEY = transaction_key("tasks.completion_read")


@functools.lru_cache(maxsize=4)
def _completion_read(dialect: str) -> Select[Any]:
    """The statement of :func:`read_for_completion` (built once per dialect: its subqueries are
    costly to build, and a statement built once has its cache key computed once)."""
    task_id = bindparam("task_id", type_=HumanTask.id.type)
    newest = (select(TaskDelegation.id).where(TaskDelegation.task_id == task_id,
                                              TaskDelegation.state.in_(DelegationState.OPEN))
              .order_by(TaskDelegation.id.desc()).limit(1).scalar_subquery())
    return (
        select(HumanTask, TaskDelegation, FormDefinition.content_hash,
               exists().where(TaskDraft.task_id == HumanTask.id).label("has_drafts"),
               people.departments_column(dialect), history.submitters_column(dialect))
        .select_from(HumanTask)
        .outerjoin(TaskDelegation, TaskDelegation.id == newest)
        .outerjoin(FormDefinition, FormDefinition.id == HumanTask.form_id)
        .where(HumanTask.id == task_id)
        # a key look-up, though its newest-delegation subquery ranks (ORDER BY … LIMIT 1): the
        # plan may be kept (app/data/db.py, plans_per_run)
        .execution_options(plan_per_run=False)
    )


def read_for_completion(session: Session, task_id: str) -> HumanTask | None:
    """The task with what completing it asks next, in one statement: its open delegation (the
    newest), whether anyone keeps a draft of it, its form's content hash (so the form comes
    from the cache of immutable versions), the departments (the projection, the notifications
    and the response need them: :func:`app.data.queries.people.adopt_departments`) and who
    submitted the work it decides on (four-eyes: :func:`app.services.four_eyes.submitter_ids`).
    Remembered for the transaction."""
    row = session.execute(_completion_read(session.get_bind().dialect.name), {"task_id": task_id}).first()
    if row is None:
        return None
    task: HumanTask = row[0]
    session.info.setdefault(COMPLETION_READ_KEY, {})[task_id] = (task, row[1], bool(row[3]))
    forms.remember_hash(session, task.form_id, row[2])
    people.adopt_departments(session, row[4])
    remember_submitters(session, task_id, row[5])
    return task


def _read(session: Session, task_id: str) -> tuple[HumanTask, TaskDelegation | None, bool] | None:
    """What :func:`read_for_completion` read of ``task_id`` in this transaction, reading it now
    if it has not."""
    known: tuple[HumanTask, TaskDelegation | None, bool] | None = session.info.get(COMPLETION_READ_KEY, {}).get(task_id)
    if known is None and read_for_completion(session, task_id) is not None:
        known = session.info[COMPLETION_READ_KEY][task_id]
    return known


def has_drafts(session: Session, task_id: str) -> bool:
    """Whether the task had drafts when this transaction read it for its completion (True when
    it has not read it: then the caller must look)."""
    known = session.info.get(COMPLETION_READ_KEY, {}).get(task_id)
    return True if known is None else known[2]


def _visible_for_completion(session: Session, user: User, task_id: str) -> tuple[HumanTask, TaskDelegation | None]:
    known = _read(session, task_id)
    if known is None:
        raise NotFound(N_("Task not found."))
    task, delegation, _drafts = known
    policy.require(policy.may_view_task(user, task), N_("You may not see this task."))
    return task, delegation


def authorize_completion(session: Session, user: User, task_id: str) -> HumanTask:
    """Refuse early (before a submission is read) a user who may not complete the task; a task
    that is no longer open is left to the completion itself (a repeated submit is answered there)."""
    task, _delegation = _visible_for_completion(session, user, task_id)
    if task.state == TaskState.OPEN:
        policy.require_complete(user, task)
    return task


def check_can_complete(session: Session, user: User, task_id: str, submit_token: str | None = None) -> HumanTask:
    """The task, if ``user`` may complete it now; raises Forbidden/TaskNotOpen/NotFound."""
    task, delegation = _visible_for_completion(session, user, task_id)
    if task.state != TaskState.OPEN:
        if submit_token and task.completion_token == submit_token:
            return task
        raise TaskNotOpen(N_("This task has already been completed or is no longer open."))
    policy.require_complete(user, task)
    policy.require(not policy.drafts_for(user, delegation),
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
