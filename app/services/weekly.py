"""The weekly assessment: started every Monday 09:00 Asia/Shanghai by the scheduler.

:func:`start_weekly_assessment` assesses the previous ISO week (Monday–Sunday, Shanghai
time): one row per closed case and responsible department from the case's ``lateness``
data (days late producing measures, set by the ``feedback_case`` process when it closes),
plus the days late carrying out corrective actions of every ``corrective_action`` process
verified in the week (added to the case's row when the case closed that week too, else a
row of its own when it was late), and starts the process
``weekly_assessment`` with ``week_start``, ``week_end`` and ``rows``. It is idempotent per
week: the instance's business key is ``assessment:<ISO week>`` (e.g. ``assessment:2026-W47``)
and a per-week counter row serialises concurrent callers (two schedulers), so a week is
started once however often it is called.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.clock import local_zone
from app.data.models import Case, InstanceStatus, ProcessInstance
from app.engine.context import Actor
from app.engine.runtime import WorkflowRuntime
from app.services.cases import TRACKING_PROCESS, main_instance_id, next_counter

log = logging.getLogger(__name__)

PROCESS_KEY = "weekly_assessment"


def assessed_week(now: datetime) -> tuple[date, date, str]:
    """(Monday, Sunday, "YYYY-Www") of the ISO week before the one ``now`` falls in (local time)."""
    today = now.astimezone(local_zone()).date()
    monday = today - timedelta(days=today.weekday()) - timedelta(days=7)
    year, week, _ = monday.isocalendar()
    return monday, monday + timedelta(days=6), f"{year}-W{week:02d}"


def business_key(week: str) -> str:
    return f"assessment:{week}"


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _week_bounds(week_start: date, week_end: date) -> tuple[datetime, datetime]:
    zone = local_zone()
    start = datetime.combine(week_start, time.min, tzinfo=zone)
    return start, datetime.combine(week_end + timedelta(days=1), time.min, tzinfo=zone)


def _data(session: Session, runtime: WorkflowRuntime, instance_id: int, label: str) -> dict[str, Any] | None:
    try:
        return runtime.instance_data(session, instance_id)
    except Exception:  # noqa: BLE001 - one unreadable instance must not stop the assessment
        log.exception("cannot read the lateness of %s", label)
        return None


def _closed_case_rows(
    session: Session, runtime: WorkflowRuntime, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    cases = session.scalars(
        select(Case).where(Case.status == "closed", Case.closed_at >= start, Case.closed_at < end)
        .order_by(Case.closed_at, Case.id)
    ).all()
    rows: list[dict[str, Any]] = []
    for case in cases:
        instance_id = main_instance_id(session, case.id)
        data = _data(session, runtime, instance_id, f"case {case.number}") if instance_id else None
        for entry in (data or {}).get("lateness") or []:
            if not isinstance(entry, dict) or not entry.get("department"):
                continue
            rows.append({
                "case_no": case.number,
                "department": str(entry["department"]),
                "late_measure_days": _int(entry.get("late_measure_days")),
                # set only by cases still running an older feedback_case version, where Quality
                # typed the days late carrying the actions out; now corrective_action counts them
                "late_execution_days": _int(entry.get("late_execution_days")),
            })
    return rows


def _execution_results(
    session: Session, runtime: WorkflowRuntime, start: datetime, end: datetime
) -> list[tuple[str, str, int]]:
    """(case number, department, days late) of the corrective actions verified in the week."""
    found = session.execute(
        select(ProcessInstance.id, Case.number)
        .outerjoin(Case, Case.id == ProcessInstance.case_id)
        .where(
            ProcessInstance.process_key == TRACKING_PROCESS,
            ProcessInstance.status == InstanceStatus.COMPLETED,
            ProcessInstance.completed_at >= start,
            ProcessInstance.completed_at < end,
        )
        .order_by(ProcessInstance.completed_at, ProcessInstance.id)
    ).all()
    results = []
    for instance_id, case_number in found:
        data = _data(session, runtime, instance_id, f"corrective actions {instance_id}")
        result = (data or {}).get("execution_result")
        if not isinstance(result, dict) or not result.get("department"):
            continue
        number = case_number or result.get("case_number")
        if number:
            results.append((str(number), str(result["department"]), _int(result.get("late_execution_days"))))
    return results


def week_rows(session: Session, runtime: WorkflowRuntime, week_start: date, week_end: date) -> list[dict[str, Any]]:
    """The assessment rows of the week: the cases closed in it (one row per responsible
    department) with the days late carrying out the corrective actions verified in it."""
    start, end = _week_bounds(week_start, week_end)
    rows = _closed_case_rows(session, runtime, start, end)
    by_key = {(r["case_no"], r["department"]): r for r in rows}
    for case_no, department, days in _execution_results(session, runtime, start, end):
        row = by_key.get((case_no, department))
        if row is not None:
            row["late_execution_days"] += days
        elif days > 0:
            row = {"case_no": case_no, "department": department, "late_measure_days": 0, "late_execution_days": days}
            by_key[(case_no, department)] = row
            rows.append(row)
    return rows


def start_weekly_assessment(session: Session, runtime: WorkflowRuntime, now: datetime) -> ProcessInstance | None:
    """Start the assessment of the week before ``now``; None when it was started already."""
    week_start, week_end, week = assessed_week(now)
    key = business_key(week)
    next_counter(session, key)  # row lock: a concurrent caller waits here until we commit
    existing = session.scalar(
        select(ProcessInstance.id).where(
            ProcessInstance.process_key == PROCESS_KEY,
            ProcessInstance.business_key == key,
            ProcessInstance.status != InstanceStatus.CANCELLED,
        ).limit(1)
    )
    if existing is not None:
        return None
    rows = week_rows(session, runtime, week_start, week_end)
    instance = runtime.start(
        session, PROCESS_KEY,
        {"week_start": week_start.isoformat(), "week_end": week_end.isoformat(), "rows": rows},
        Actor.system("scheduler"), business_key=key,
    )
    log.info("weekly assessment %s started (%d rows)", week, len(rows))
    return instance


__all__ = ["assessed_week", "business_key", "start_weekly_assessment", "week_rows"]
