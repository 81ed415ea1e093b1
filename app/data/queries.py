"""Read-side queries over the projection tables (inboxes, case pages, audit export)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from app.data.models import (
    AuditEvent,
    Case,
    Department,
    HumanTask,
    InstanceStatus,
    ProcessInstance,
    TaskState,
    User,
)

TASK_SCOPES = ("mine", "department", "all")


def open_tasks_query(user: User, scope: str) -> Select:
    """Open tasks visible to ``user`` in ``scope`` ("all" only for admins, managers, auditors)."""
    stmt = select(HumanTask).where(HumanTask.state == TaskState.OPEN)
    if scope == "mine":
        stmt = stmt.where(HumanTask.assignee_id == user.id)
    elif scope == "department":
        stmt = stmt.where(HumanTask.department_id.in_(user.department_ids or {-1}))
    elif scope == "all" and user.has_role("admin", "manager", "auditor"):
        pass
    else:
        stmt = stmt.where(
            or_(HumanTask.assignee_id == user.id, HumanTask.department_id.in_(user.department_ids or {-1}))
        )
    return stmt.order_by(HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.created_at)


def open_tasks(session: Session, user: User, scope: str, limit: int = 200, offset: int = 0) -> Sequence[HumanTask]:
    return session.scalars(open_tasks_query(user, scope).limit(limit).offset(offset)).all()


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
