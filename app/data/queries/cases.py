"""Case lists and look-ups, and the process instances behind them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from app.data.models import Case, HumanTask, InstanceStatus, ProcessDefinition, ProcessInstance


def cases_query(user_department_ids: set[int] | None, status: str | None = None,
                search: str | None = None, clock_state: str | None = None, **equal: str | None) -> Select:
    """Cases, newest first; ``user_department_ids`` limits them to cases where one of those
    departments has (or had) a task (None: no limit); ``clock_state`` filters on the stored
    state of the customer's clock; ``equal`` names further columns of :class:`Case` and the
    value each must have (None: any)."""
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
    if clock_state:
        stmt = stmt.where(Case.clock_state == clock_state)
    for column, value in equal.items():
        if value:
            stmt = stmt.where(getattr(Case, column) == value)
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


def case_numbers(session: Session, case_ids: set[int]) -> dict[int, str]:
    if not case_ids:
        return {}
    return {key: value for key, value in session.execute(select(Case.id, Case.number).where(Case.id.in_(case_ids)))}


def case_ids_by_number(session: Session, numbers: set[str]) -> dict[str, int]:
    """Case ids by case number (for linking figures back to their cases)."""
    if not numbers:
        return {}
    return {key: value for key, value in session.execute(select(Case.number, Case.id).where(Case.number.in_(numbers)))}


def case_process_names(session: Session, case_id: int) -> dict[int, str]:
    """instance id → process name of every process of a case, the case's own one first."""
    rows = session.execute(
        select(ProcessInstance.id, ProcessDefinition.name, ProcessDefinition.key)
        .join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
        .where(ProcessInstance.case_id == case_id)
        .order_by(ProcessInstance.id)
    ).all()
    return {row.id: row.name or row.key for row in rows}


def process_instances(session: Session, process_key: str, limit: int = 200) -> Sequence[ProcessInstance]:
    """Instances of ``process_key``, newest first."""
    return session.scalars(
        select(ProcessInstance).where(ProcessInstance.process_key == process_key)
        .order_by(ProcessInstance.started_at.desc(), ProcessInstance.id.desc()).limit(limit)
    ).all()


def incident_instances(session: Session) -> Sequence[ProcessInstance]:
    return session.scalars(
        select(ProcessInstance).where(ProcessInstance.status == InstanceStatus.INCIDENT)
        .order_by(ProcessInstance.updated_at.desc())
    ).all()
