"""The weekly assessment: started every Monday 09:00 Asia/Shanghai by the scheduler.

:func:`start_weekly_assessment` assesses the previous ISO week (Monday–Sunday, Shanghai
time): one row per closed case and responsible department from the case's ``lateness``
data (set by the ``feedback_case`` process when it closes), and starts the process
``weekly_assessment`` with ``week_start``, ``week_end`` and ``rows``. It is idempotent per
week: the instance's business key is ``assessment:<ISO week>`` (e.g. ``assessment:2026-W47``)
and a per-week counter row serialises concurrent callers (two schedulers), so a week is
started once however often it is called.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.data.models import Case, InstanceStatus, ProcessInstance
from app.engine.runtime import Actor, WorkflowRuntime
from app.services.cases import MAIN_PROCESS, next_counter

log = logging.getLogger(__name__)

PROCESS_KEY = "weekly_assessment"
LOCAL_TZ = ZoneInfo("Asia/Shanghai")


def assessed_week(now: datetime) -> tuple[date, date, str]:
    """(Monday, Sunday, "YYYY-Www") of the ISO week before the one ``now`` falls in (Shanghai)."""
    today = now.astimezone(LOCAL_TZ).date()
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


def week_rows(session: Session, runtime: WorkflowRuntime, week_start: date, week_end: date) -> list[dict[str, Any]]:
    """Rows of the cases closed in the week, from each case's ``lateness`` data."""
    start = datetime.combine(week_start, time.min, tzinfo=LOCAL_TZ)
    end = datetime.combine(week_end + timedelta(days=1), time.min, tzinfo=LOCAL_TZ)
    cases = session.scalars(
        select(Case).where(Case.status == "closed", Case.closed_at >= start, Case.closed_at < end)
        .order_by(Case.closed_at, Case.id)
    ).all()
    rows: list[dict[str, Any]] = []
    for case in cases:
        instance_id = session.scalar(
            select(ProcessInstance.id)
            .where(ProcessInstance.case_id == case.id, ProcessInstance.process_key == MAIN_PROCESS)
            .order_by(ProcessInstance.id).limit(1)
        )
        if instance_id is None:
            continue
        try:
            data = runtime.instance_data(session, instance_id)
        except Exception:  # noqa: BLE001 - one unreadable case must not stop the assessment
            log.exception("cannot read the lateness of case %s", case.number)
            continue
        for entry in data.get("lateness") or []:
            if not isinstance(entry, dict) or not entry.get("department"):
                continue
            rows.append({
                "case_no": case.number,
                "department": str(entry["department"]),
                "late_measure_days": _int(entry.get("late_measure_days")),
                "late_execution_days": _int(entry.get("late_execution_days")),
            })
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
