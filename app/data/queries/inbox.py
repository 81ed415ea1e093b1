"""Inbox lists: the open tasks a user sees, filtered, sorted and paged, and saved filters."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, case, func, or_, select
from sqlalchemy.orm import Session

from app.data.models import Case, DelegationState, HumanTask, SavedFilter, TaskDelegation, TaskState, User

TASK_SCOPES = ("mine", "department", "all")


def open_tasks_query(user: User, scope: str, all_allowed: bool = False) -> Select:
    """Open tasks visible to ``user`` in ``scope`` ("all" only when ``all_allowed``, as the policy says)."""
    stmt = select(HumanTask).where(HumanTask.state == TaskState.OPEN)
    if scope == "mine":
        stmt = stmt.where(HumanTask.assignee_id == user.id)
    elif scope == "department":
        stmt = stmt.where(HumanTask.department_id.in_(user.department_ids or {-1}))
    elif scope == "all" and all_allowed:
        pass
    else:
        stmt = stmt.where(
            or_(HumanTask.assignee_id == user.id, HumanTask.department_id.in_(user.department_ids or {-1}))
        )
    return stmt.order_by(HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.created_at)


def open_tasks(session: Session, user: User, scope: str, limit: int = 200, offset: int = 0,
               all_allowed: bool = False) -> Sequence[HumanTask]:
    return session.scalars(open_tasks_query(user, scope, all_allowed).limit(limit).offset(offset)).all()


INBOX_VIEWS = ("mine", "department", "overdue", "completed", "delegated", "all")


INBOX_SORTS = ("due", "priority", "created", "case")


_URGENCY_RANK = {"urgent": 0, "important": 1, "general": 2}


@dataclass
class TaskFilter:
    """Business-field filters of the inbox; empty values filter nothing."""

    q: str = ""
    case_number: str = ""
    customer: str = ""
    product_model: str = ""
    serial: str = ""
    category: str = ""
    urgency: str = ""
    stage: str = ""
    department_id: int | None = None
    due_from: datetime | None = None
    due_before: datetime | None = None
    sort: str = "due"


@dataclass
class InboxScope:
    """Whose tasks a user sees: their own ids plus the people and departments they stand in for."""

    user_id: int
    user_ids: set[int]
    department_ids: set[int]
    elevated: bool = False


def _like(value: str) -> str:
    return "%" + value.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _case_ids_where(*conditions) -> Select:
    return select(Case.id).where(or_(*conditions))


def apply_task_filter(stmt: Select, flt: TaskFilter) -> Select:
    """Filter ``human_task`` rows on the denormalized case essentials; serial numbers and the
    case description live only on ``feedback_case`` and are matched through an indexed
    ``case_id IN (SELECT id FROM feedback_case WHERE …)``. Text filters are ILIKE substrings."""
    if flt.case_number:
        stmt = stmt.where(HumanTask.case_number.ilike(_like(flt.case_number), escape="\\"))
    if flt.customer:
        stmt = stmt.where(HumanTask.customer_name.ilike(_like(flt.customer), escape="\\"))
    if flt.product_model:
        stmt = stmt.where(HumanTask.product_model.ilike(_like(flt.product_model), escape="\\"))
    if flt.serial:
        stmt = stmt.where(HumanTask.case_id.in_(
            _case_ids_where(Case.serial_numbers.ilike(_like(flt.serial), escape="\\"))))
    if flt.category:
        stmt = stmt.where(HumanTask.category == flt.category)
    if flt.urgency:
        stmt = stmt.where(HumanTask.urgency == flt.urgency)
    if flt.stage:
        pattern = _like(flt.stage)
        stmt = stmt.where(or_(HumanTask.element_id == flt.stage.strip(),
                              HumanTask.title.ilike(pattern, escape="\\"),
                              HumanTask.title_en.ilike(pattern, escape="\\")))
    if flt.department_id is not None:
        stmt = stmt.where(HumanTask.department_id == flt.department_id)
    if flt.due_from is not None:
        stmt = stmt.where(HumanTask.due_at >= flt.due_from)
    if flt.due_before is not None:
        stmt = stmt.where(HumanTask.due_at < flt.due_before)
    if flt.q:
        pattern = _like(flt.q)
        stmt = stmt.where(or_(
            HumanTask.case_number.ilike(pattern, escape="\\"),
            HumanTask.customer_name.ilike(pattern, escape="\\"),
            HumanTask.product_model.ilike(pattern, escape="\\"),
            HumanTask.title.ilike(pattern, escape="\\"),
            HumanTask.title_en.ilike(pattern, escape="\\"),
            HumanTask.case_id.in_(_case_ids_where(Case.serial_numbers.ilike(pattern, escape="\\"),
                                                  Case.description.ilike(pattern, escape="\\"))),
        ))
    return stmt


def _sorted(stmt: Select, sort: str) -> Select:
    due_last = (HumanTask.due_at.is_(None), HumanTask.due_at)
    if sort == "priority":
        urgency = case(_URGENCY_RANK, value=HumanTask.urgency, else_=3)
        return stmt.order_by(HumanTask.priority.desc(), urgency, *due_last, HumanTask.created_at)
    if sort == "created":
        return stmt.order_by(HumanTask.created_at.desc(), HumanTask.id)
    if sort == "case":
        return stmt.order_by(HumanTask.case_number.is_(None), HumanTask.case_number, *due_last)
    return stmt.order_by(*due_last, HumanTask.created_at, HumanTask.id)


def inbox_query(scope: InboxScope, view: str, flt: TaskFilter, now: datetime) -> Select:
    """One inbox view over the ``human_task`` projection (plus ``task_delegation`` for "delegated")."""
    mine = HumanTask.assignee_id.in_(scope.user_ids)
    departments = HumanTask.department_id.in_(scope.department_ids or {-1})
    stmt = select(HumanTask)
    if view == "completed":
        stmt = stmt.where(HumanTask.state == TaskState.COMPLETED, HumanTask.completed_by_id == scope.user_id)
        return apply_task_filter(stmt, flt).order_by(HumanTask.completed_at.desc(), HumanTask.id)
    stmt = stmt.where(HumanTask.state == TaskState.OPEN)
    if view == "mine":
        stmt = stmt.where(mine)
    elif view == "department":
        stmt = stmt.where(departments)
    elif view == "overdue":
        stmt = stmt.where(HumanTask.due_at < now, or_(mine, departments))
    elif view == "delegated":
        stmt = stmt.where(HumanTask.id.in_(select(TaskDelegation.task_id).where(
            TaskDelegation.delegator_id == scope.user_id, TaskDelegation.state == DelegationState.ACTIVE)))
    elif view == "all" and scope.elevated:
        pass
    else:
        stmt = stmt.where(or_(mine, departments))
    return _sorted(apply_task_filter(stmt, flt), flt.sort)


def tab_counts(session: Session, scope: InboxScope, now: datetime) -> dict[str, int]:
    """The unfiltered counts of the tabs "mine", "department" and "overdue" and of the unclaimed
    tasks of the scope's departments, in one statement over the scope's open tasks (the same
    rows as :func:`inbox_query` and :func:`unclaimed_query` count one by one)."""
    mine = HumanTask.assignee_id.in_(scope.user_ids)
    departments = HumanTask.department_id.in_(scope.department_ids or {-1})
    row = session.execute(select(
        func.count().filter(mine), func.count().filter(departments), func.count().filter(HumanTask.due_at < now),
        func.count().filter(departments, HumanTask.assignee_id.is_(None)),
    ).where(HumanTask.state == TaskState.OPEN, or_(mine, departments))).one()
    return dict(zip(("mine", "department", "overdue", "unclaimed"), (int(n or 0) for n in row), strict=True))


def unclaimed_query(scope: InboxScope) -> Select:
    """Open tasks of the scope's departments that nobody has claimed yet: work waiting in the
    department queue (a new case's first task starts there, not in anybody's "my tasks")."""
    return select(HumanTask).where(HumanTask.state == TaskState.OPEN, HumanTask.assignee_id.is_(None),
                                   HumanTask.department_id.in_(scope.department_ids or {-1}))


def saved_filters(session: Session, user_id: int) -> Sequence[SavedFilter]:
    return session.scalars(select(SavedFilter).where(SavedFilter.user_id == user_id).order_by(SavedFilter.name)).all()
