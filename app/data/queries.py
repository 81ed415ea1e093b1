"""Read-side queries over the projection tables (inboxes, case pages, audit export)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from app.data.models import AuditEvent, HumanTask, TaskState, User

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
