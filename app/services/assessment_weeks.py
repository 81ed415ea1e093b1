"""The list of weekly assessments without loading their workflows: a row per assessment
(``assessment_week``) with what the list shows — its week, status, whether its rows are computed
and the departments it charges (who may see it) — kept by a runtime hook with every save of an
assessment and filled by ``flask migrate`` for assessments saved before the rows existed."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.data.models import AssessmentWeek, InstanceStatus, ProcessInstance
from app.engine.context import RunContext
from app.engine.projection import latest_data
from app.engine.runtime import WorkflowRuntime
from app.errors import AppError
from app.services.weekly import PROCESS_KEY

log = logging.getLogger(__name__)

#: the newest assessments the list shows
LIMIT = 200


def departments_of(data: dict[str, Any]) -> set[str]:
    """The departments an assessment's rows charge (its computed items, else its first rows)."""
    rows = data.get("assessment_items") or data.get("rows") or []
    return {str(r.get("department")) for r in rows if isinstance(r, dict) and r.get("department")}


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def _fill(row: AssessmentWeek, data: dict[str, Any]) -> None:
    row.week_start, row.week_end = _day(data.get("week_start")), _day(data.get("week_end"))
    row.status = str(data["assessment_status"])[:40] if data.get("assessment_status") else None
    row.computed = bool(data.get("assessment_items"))
    row.departments = sorted(departments_of(data))


def week_hook(session: Session, instance: ProcessInstance, workflow: Any, ctx: RunContext) -> None:
    """Keep the assessment's list row in step with its data (a runtime hook)."""
    if instance.process_key != PROCESS_KEY:
        return
    row = session.get(AssessmentWeek, instance.id)
    if row is None:
        row = AssessmentWeek(instance_id=instance.id)
        session.add(row)
    _fill(row, latest_data(workflow))


@dataclass(frozen=True)
class Week:
    """One line of the list."""

    instance: ProcessInstance
    week_start: date | None
    week_end: date | None
    status: str  # "incident", the diagram's assessment_status, or "open"
    computed: bool
    departments: frozenset[str]


def listing(session: Session, runtime: WorkflowRuntime, limit: int = LIMIT) -> list[Week]:
    """The newest ``limit`` assessments, newest first, from their rows (an assessment without one,
    saved before the rows existed and not filled yet, is read from its workflow)."""
    found = session.execute(
        select(ProcessInstance, AssessmentWeek)
        .outerjoin(AssessmentWeek, AssessmentWeek.instance_id == ProcessInstance.id)
        .where(ProcessInstance.process_key == PROCESS_KEY)
        .order_by(ProcessInstance.started_at.desc(), ProcessInstance.id.desc()).limit(limit)).all()
    weeks = []
    for instance, row in found:
        if row is None:
            row = AssessmentWeek(instance_id=instance.id)  # not added: a read changes nothing
            _fill(row, _workflow_data(session, runtime, instance))
        status = "incident" if instance.status == InstanceStatus.INCIDENT else (row.status or "open")
        weeks.append(Week(instance, row.week_start, row.week_end, status, bool(row.computed),
                          frozenset(row.departments or ())))
    return weeks


def _workflow_data(session: Session, runtime: WorkflowRuntime, instance: ProcessInstance) -> dict[str, Any]:
    try:
        return runtime.instance_data(session, instance.id)
    except AppError:
        log.exception("cannot read the data of assessment %s", instance.id)
        return {}


def backfill(session: Session, runtime: WorkflowRuntime) -> int:
    """Write the row of every assessment that has none (``flask migrate``); returns how many."""
    missing = session.scalars(
        select(ProcessInstance).where(ProcessInstance.process_key == PROCESS_KEY,
                                      ProcessInstance.id.not_in(select(AssessmentWeek.instance_id)))).all()
    for instance in missing:
        row = AssessmentWeek(instance_id=instance.id)
        _fill(row, _workflow_data(session, runtime, instance))
        session.add(row)
    return len(missing)


__all__ = ["LIMIT", "Week", "backfill", "departments_of", "listing", "week_hook"]
