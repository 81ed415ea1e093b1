"""What happened: audit events of a case or instance, and task completions."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Select, func, select
from sqlalchemy.orm import Session, aliased

from app.data.models import AuditEvent, HumanTask, TaskState


def audit_events(session: Session, case_id: int | None = None, instance_id: int | None = None,
                 limit: int = 10000) -> Sequence[AuditEvent]:
    stmt = select(AuditEvent)
    if case_id is not None:
        stmt = stmt.where(AuditEvent.case_id == case_id)
    if instance_id is not None:
        stmt = stmt.where(AuditEvent.instance_id == instance_id)
    return session.scalars(stmt.order_by(AuditEvent.at, AuditEvent.id).limit(limit)).all()


def completion_data(session: Session, task_ids: Collection[str]) -> dict[str, dict[str, Any]]:
    """What each of ``task_ids`` was completed with: its last completion event's data (tasks
    without one are left out), for all in one statement (one task: ``completion_data(s, [id])``)."""
    found: dict[str, dict[str, Any]] = {}
    if not task_ids:
        return found
    for task_id, data in session.execute(
        select(AuditEvent.task_id, AuditEvent.data_after)
        .where(AuditEvent.task_id.in_(sorted(task_ids)), AuditEvent.action == "task_completed")
        .order_by(AuditEvent.id)
    ):
        found[task_id] = dict(data or {})  # in id order: the last one stays
    return found


def newest_completed_first(stmt: Select[Any]) -> Select[Any]:
    """``stmt`` (a select of HumanTask) ordered newest completion first; completions at the same
    instant (one request, or a frozen clock) in the reverse order their audit events were written.

    Each task's last completion event is looked up for that task (``ix_audit_event_task_completed``):
    a join on every task's latest event grouped the whole trail's completions on every call."""
    last_event = (select(func.max(AuditEvent.id))
                  .where(AuditEvent.task_id == HumanTask.id, AuditEvent.action == "task_completed")
                  .correlate(HumanTask).scalar_subquery())
    return stmt.order_by(HumanTask.completed_at.desc(), last_event.desc().nulls_last(), HumanTask.id)


def latest_completion(session: Session, instance_id: int, element_ids: tuple[str, ...],
                      before: datetime | None = None) -> Sequence[HumanTask]:
    """Completed tasks ``element_ids`` of an instance, newest first (optionally completed before ``before``)."""
    stmt = select(HumanTask).where(HumanTask.instance_id == instance_id, HumanTask.element_id.in_(element_ids),
                                   HumanTask.state == TaskState.COMPLETED)
    if before is not None:
        stmt = stmt.where(HumanTask.completed_at <= before)
    return session.scalars(newest_completed_first(stmt)).all()


def submitters_column(dialect: str) -> Any:
    """For a select of HumanTask: who completed, at the latest moment, the tasks named in the
    task's ``submitted_by`` context (of its instance, completed before the task was created) —
    :func:`latest_completion`'s newest rows as one JSON array of user ids (with nulls), to read
    with the task; an empty or null array when the task names none."""
    if dialect == "postgresql":
        elements = select(func.jsonb_array_elements_text(HumanTask.context["submitted_by"])).correlate(HumanTask)
        aggregate = func.json_agg
    else:
        elements = (select(func.json_each(HumanTask.context, "$.submitted_by").table_valued("value").c.value)
                    .correlate(HumanTask))
        aggregate = func.json_group_array

    def completed(done: Any) -> list[Any]:
        return [done.instance_id == HumanTask.instance_id, done.state == TaskState.COMPLETED,
                done.completed_at <= HumanTask.created_at, done.element_id.in_(elements)]

    done, peer = aliased(HumanTask), aliased(HumanTask)
    latest = select(func.max(peer.completed_at)).where(*completed(peer)).correlate(HumanTask).scalar_subquery()
    # typed JSON, so both drivers' results come back decoded (SQLite gives the aggregate as text)
    return (select(aggregate(done.completed_by_id, type_=JSON)).where(*completed(done), done.completed_at == latest)
            .correlate(HumanTask).scalar_subquery().label("submitters"))


def completion_events(session: Session, instance_id: int, element: str) -> Sequence[AuditEvent]:
    """The "task_completed" audit events of ``element`` in an instance, newest first."""
    return session.scalars(
        select(AuditEvent).where(AuditEvent.instance_id == instance_id, AuditEvent.element == element,
                                 AuditEvent.action == "task_completed")
        .order_by(AuditEvent.id.desc())
    ).all()
