"""Read-side queries over the projection tables (inboxes, case pages, audit export)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Select, case, func, or_, select
from sqlalchemy.orm import Session

from app.data.models import (
    AuditEvent,
    Case,
    DelegationState,
    Department,
    HumanTask,
    InstanceStatus,
    Membership,
    ProcessDefinition,
    ProcessInstance,
    SavedFilter,
    Substitution,
    TaskDelegation,
    TaskState,
    User,
)

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


def case_tasks(session: Session, case_id: int) -> Sequence[HumanTask]:
    return session.scalars(
        select(HumanTask).where(HumanTask.case_id == case_id).order_by(HumanTask.created_at)
    ).all()


def audit_events(session: Session, case_id: int | None = None, instance_id: int | None = None,
                 limit: int = 10000) -> Sequence[AuditEvent]:
    stmt = select(AuditEvent)
    if case_id is not None:
        stmt = stmt.where(AuditEvent.case_id == case_id)
    if instance_id is not None:
        stmt = stmt.where(AuditEvent.instance_id == instance_id)
    return session.scalars(stmt.order_by(AuditEvent.at, AuditEvent.id).limit(limit)).all()


def case_process_names(session: Session, case_id: int) -> dict[int, str]:
    """instance id → process name of every process of a case, the case's own one first."""
    rows = session.execute(
        select(ProcessInstance.id, ProcessDefinition.name, ProcessDefinition.key)
        .join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
        .where(ProcessInstance.case_id == case_id)
        .order_by(ProcessInstance.id)
    ).all()
    return {row.id: row.name or row.key for row in rows}


def user_names(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(session.execute(select(User.id, User.display_name).where(User.id.in_(ids))).all())


# ---------------------------------------------------------------------------- web UI lists


def count_rows(session: Session, stmt: Select) -> int:
    """The number of rows ``stmt`` would return (ignoring its ordering)."""
    return session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0


def page_of(session: Session, stmt: Select, page: int, size: int) -> tuple[Sequence, int]:
    """One page (1-based) of ``stmt``'s scalar rows and the total row count."""
    total = count_rows(session, stmt)
    rows = session.scalars(stmt.limit(size).offset(max(page - 1, 0) * size)).all()
    return rows, total


def departments_by_id(session: Session) -> dict[int, Department]:
    return {d.id: d for d in session.scalars(select(Department))}


def cases_query(user_department_ids: set[int] | None, status: str | None = None,
                search: str | None = None) -> Select:
    """Cases, newest first; ``user_department_ids`` limits them to cases where one of those
    departments has (or had) a task (None: no limit)."""
    stmt = select(Case)
    if user_department_ids is not None:
        stmt = stmt.where(
            Case.id.in_(
                select(HumanTask.case_id).where(
                    HumanTask.case_id.is_not(None), HumanTask.department_id.in_(user_department_ids or {-1})
                )
            )
        )
    if status:
        stmt = stmt.where(Case.status == status)
    if search:
        pattern = "%" + search.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(or_(Case.number.ilike(pattern, escape="\\"), Case.customer_name.ilike(pattern, escape="\\")))
    return stmt.order_by(Case.received_at.desc(), Case.id.desc())


def case_statuses(session: Session) -> list[str]:
    return sorted(s for s in session.scalars(select(Case.status).distinct()) if s)


def case_has_department_task(session: Session, case_id: int, department_ids: set[int]) -> bool:
    if not department_ids:
        return False
    return session.scalar(
        select(HumanTask.id).where(HumanTask.case_id == case_id, HumanTask.department_id.in_(department_ids)).limit(1)
    ) is not None


def incident_instances(session: Session) -> Sequence[ProcessInstance]:
    return session.scalars(
        select(ProcessInstance).where(ProcessInstance.status == InstanceStatus.INCIDENT)
        .order_by(ProcessInstance.updated_at.desc())
    ).all()


def case_numbers(session: Session, case_ids: set[int]) -> dict[int, str]:
    if not case_ids:
        return {}
    return dict(session.execute(select(Case.id, Case.number).where(Case.id.in_(case_ids))).all())


def completed_task_events(session: Session, task_id: str) -> Sequence[AuditEvent]:
    return session.scalars(
        select(AuditEvent).where(AuditEvent.task_id == task_id, AuditEvent.action == "task_completed")
        .order_by(AuditEvent.id)
    ).all()


def department_members(session: Session) -> dict[int, list[tuple[User, bool]]]:
    """Active and inactive members of every department as (user, is_head)."""
    members: dict[int, list[tuple[User, bool]]] = {}
    for user in session.scalars(select(User).order_by(User.username)):
        for membership in user.memberships:
            members.setdefault(membership.department_id, []).append((user, membership.is_head))
    return members


def usernames(session: Session, ids: set[int]) -> dict[int, str]:
    """Login names by user id (for API payloads)."""
    if not ids:
        return {}
    return dict(session.execute(select(User.id, User.username).where(User.id.in_(ids))).all())


# ---------------------------------------------------------------------------- weekly assessments


def process_instances(session: Session, process_key: str, limit: int = 200) -> Sequence[ProcessInstance]:
    """Instances of ``process_key``, newest first."""
    return session.scalars(
        select(ProcessInstance).where(ProcessInstance.process_key == process_key)
        .order_by(ProcessInstance.started_at.desc(), ProcessInstance.id.desc()).limit(limit)
    ).all()


def case_ids_by_number(session: Session, numbers: set[str]) -> dict[str, int]:
    """Case ids by case number (for linking figures back to their cases)."""
    if not numbers:
        return {}
    return dict(session.execute(select(Case.number, Case.id).where(Case.number.in_(numbers))).all())


# ---------------------------------------------------------------------------- inbox (human_task only)

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


def substituted_users(session: Session, substitute_id: int, day: date) -> Sequence[User]:
    """The users ``substitute_id`` stands in for on ``day``."""
    return session.scalars(
        select(User).where(User.id.in_(select(Substitution.user_id).where(
            Substitution.substitute_id == substitute_id, Substitution.starts_on <= day, Substitution.ends_on >= day,
        )), User.active.is_(True))
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


def saved_filters(session: Session, user_id: int) -> Sequence[SavedFilter]:
    return session.scalars(select(SavedFilter).where(SavedFilter.user_id == user_id).order_by(SavedFilter.name)).all()


def substitutions_of(session: Session, user_id: int) -> Sequence[Substitution]:
    """Substitutions a user named for themselves or was named for, newest first."""
    return session.scalars(select(Substitution).where(
        or_(Substitution.user_id == user_id, Substitution.substitute_id == user_id)
    ).order_by(Substitution.starts_on.desc(), Substitution.id.desc())).all()


def department_colleagues(session: Session, department_id: int) -> Sequence[User]:
    """Active members of a department."""
    return session.scalars(
        select(User).join(Membership, Membership.user_id == User.id)
        .where(Membership.department_id == department_id, User.active.is_(True)).order_by(User.username)
    ).all()


def latest_completion(session: Session, instance_id: int, element_ids: tuple[str, ...],
                      before: datetime | None = None) -> Sequence[HumanTask]:
    """Completed tasks ``element_ids`` of an instance, newest first (optionally completed before ``before``)."""
    stmt = select(HumanTask).where(HumanTask.instance_id == instance_id, HumanTask.element_id.in_(element_ids),
                                   HumanTask.state == TaskState.COMPLETED)
    if before is not None:
        stmt = stmt.where(HumanTask.completed_at <= before)
    return session.scalars(stmt.order_by(HumanTask.completed_at.desc(), HumanTask.id)).all()


def completion_events(session: Session, instance_id: int, element: str) -> Sequence[AuditEvent]:
    """The "task_completed" audit events of ``element`` in an instance, newest first."""
    return session.scalars(
        select(AuditEvent).where(AuditEvent.instance_id == instance_id, AuditEvent.element == element,
                                 AuditEvent.action == "task_completed")
        .order_by(AuditEvent.id.desc())
    ).all()


def open_approval_tasks(session: Session) -> Sequence[HumanTask]:
    """Open tasks with an approval kind, by due time."""
    return session.scalars(
        select(HumanTask).where(HumanTask.approval.is_not(None), HumanTask.state == TaskState.OPEN)
        .order_by(HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.created_at)
    ).all()


def approval_department_ids(session: Session) -> set[int]:
    """Departments that have (or had) approval items to decide (cached for the session's request)."""
    cached = session.info.get("approval_department_ids")
    if cached is None:
        cached = session.info["approval_department_ids"] = set(session.scalars(
            select(HumanTask.department_id).where(HumanTask.approval.is_not(None),
                                                  HumanTask.department_id.is_not(None)).distinct()))
    return cached
