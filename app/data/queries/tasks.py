"""Human tasks of a case or an element, and their delegations."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Row, exists, or_, select
from sqlalchemy.orm import Session

from app.data.models import DelegationState, Department, HumanTask, TaskDelegation, TaskState


def case_tasks(session: Session, case_id: int) -> Sequence[HumanTask]:
    return session.scalars(
        select(HumanTask).where(HumanTask.case_id == case_id).order_by(HumanTask.created_at)
    ).all()


def open_delegation(session: Session, task_id: str) -> TaskDelegation | None:
    """The task's delegation that is with the delegate or back for the final check (or None)."""
    return session.scalars(
        select(TaskDelegation).where(TaskDelegation.task_id == task_id,
                                     TaskDelegation.state.in_(DelegationState.OPEN))
        .order_by(TaskDelegation.id.desc()).limit(1)
    ).first()


def open_delegations(session: Session, task_ids: set[str]) -> dict[str, TaskDelegation]:
    if not task_ids:
        return {}
    rows = session.scalars(select(TaskDelegation).where(
        TaskDelegation.task_id.in_(task_ids), TaskDelegation.state.in_(DelegationState.OPEN)
    ).order_by(TaskDelegation.id))
    return {row.task_id: row for row in rows}


#: what deciding whether an approval item counts needs of its task (the navigation's badge)
APPROVAL_RULE_COLUMNS = (HumanTask.instance_id, HumanTask.approval, HumanTask.state, HumanTask.department_id,
                         HumanTask.assignee_id, HumanTask.performer)


def _open_approvals(department_ids: Collection[int] | None, assignee_ids: Collection[int]) -> list[Any]:
    """Open tasks with an approval kind; with ``department_ids``, only those of these departments
    or assigned to one of ``assignee_ids``."""
    conditions: list[Any] = [HumanTask.approval.is_not(None), HumanTask.state == TaskState.OPEN]
    if department_ids is not None:
        conditions.append(or_(HumanTask.department_id.in_(list(department_ids)),
                              HumanTask.assignee_id.in_(list(assignee_ids))))
    return conditions


def open_approval_rows(session: Session, *extra: Any) -> Sequence[Row[Any]]:
    """Every open approval task's id and :data:`APPROVAL_RULE_COLUMNS` (and the ``extra`` columns),
    as plain rows, by due time (the screen decides which to show from these and loads only those)."""
    return session.execute(select(HumanTask.id, *APPROVAL_RULE_COLUMNS, *extra).where(*_open_approvals(None, ()))
                           .order_by(HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.created_at)).all()


def tasks_by_id(session: Session, task_ids: Sequence[str]) -> list[HumanTask]:
    """The tasks ``task_ids`` in that order (those that exist)."""
    found = {task.id: task for task in session.scalars(select(HumanTask).where(HumanTask.id.in_(list(task_ids))))}
    return [found[task_id] for task_id in task_ids if task_id in found]


def open_approval_rule_rows(session: Session, department_ids: Collection[int],
                            assignee_ids: Collection[int] = (), *extra: Any) -> Sequence[Row[Any]]:
    """The :data:`APPROVAL_RULE_COLUMNS` (and the ``extra`` columns) of the open approval tasks of
    ``department_ids`` or assigned to one of ``assignee_ids``, as plain rows (the badge counts them
    on every page: building hundreds of ORM objects for a count was most of its cost)."""
    return session.execute(select(*APPROVAL_RULE_COLUMNS, *extra)
                           .where(*_open_approvals(department_ids, assignee_ids))).all()


def approval_department_ids(session: Session) -> set[int]:
    """Departments that have (or had) approval items to decide (cached for the session's request)."""
    cached = session.info.get("approval_department_ids")
    if cached is None:
        # per department an EXISTS on the partial index ix_human_task_approval_department: a
        # DISTINCT over the tasks would read every approval task ever created
        cached = session.info["approval_department_ids"] = set(session.scalars(
            select(Department.id).where(exists().where(HumanTask.department_id == Department.id,
                                                       HumanTask.approval.is_not(None)))))
    return cached
