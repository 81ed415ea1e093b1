"""The weekly assessment: started every Monday 09:00 Asia/Shanghai by the scheduler.

:func:`start_weekly_assessment` assesses the previous ISO week (Monday 00:00 to Sunday 24:00,
Shanghai time) and starts the process ``weekly_assessment`` with ``week_start``, ``week_end``,
``rows``, ``lateness`` and ``logistics_basis`` (the admin setting, :mod:`app.services.settings`).

Lateness is charged in the week it happens (:func:`week_charges`): every human task whose
diagram gives it a ``latenessCharge`` (the 8D report: measures; carrying out the corrective
actions: execution) and that was late at some time in the week — still open, completed or
cancelled — is charged the started days late that *began* in the week, counted in the task's
basis (``latenessDays``, else ``ESCALATION_LATENESS_DAYS``) with
:meth:`~app.engine.calendar.WorkingCalendar.late_day_starts`. A day that begins on Sunday and
runs into Monday belongs to the week it began in, so summing the weeks gives each task's
``days_late`` exactly once. It reads only the indexed ``human_task`` projection.

``rows`` holds one row per case and department with the days charged in the week, plus the
cases closed in the week with their responsible departments (the departments with a charged
task on the case), so Logistics can enter their freight and losses. The start is idempotent
per week: the instance's business key is ``assessment:<ISO week>`` (e.g. ``assessment:2026-W47``)
and a per-week counter row serialises concurrent callers (two schedulers), so a week is
started once however often it is called.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.clock import clock, local_zone
from app.data.models import Case, Department, HumanTask, InstanceStatus, ProcessInstance
from app.engine.calendar import WorkingCalendar, default_calendar
from app.engine.context import Actor
from app.engine.runtime import WorkflowRuntime
from app.services import settings
from app.services.cases import next_counter

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


def _week_bounds(week_start: date, week_end: date) -> tuple[datetime, datetime]:
    zone = local_zone()
    start = datetime.combine(week_start, time.min, tzinfo=zone)
    return start, datetime.combine(week_end + timedelta(days=1), time.min, tzinfo=zone)


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def week_charges(
    session: Session, week_start: date, week_end: date, lateness_basis: str = "working",
    now: datetime | None = None, cal: WorkingCalendar | None = None,
) -> list[dict[str, Any]]:
    """The charged tasks late in the week, each with the days late that began in it.

    One entry per task: case, department code, task, charge (measures/execution), basis, due
    and completion time, the local dates each charged day began (``days``) and the number of
    the first of them among the task's days late (``first_day``). Open tasks are late until
    ``now``; tasks with nothing charged in the week are left out.
    """
    cal = cal or default_calendar()
    start, end = _week_bounds(week_start, week_end)
    now = now or clock.now()
    found = session.execute(
        select(HumanTask, Department.code)
        .outerjoin(Department, Department.id == HumanTask.department_id)
        .where(
            HumanTask.lateness_charge.is_not(None),
            or_(HumanTask.completed_at.is_(None), HumanTask.completed_at > start),
            HumanTask.due_at.is_not(None),
            HumanTask.due_at < end,
        )
        .order_by(HumanTask.case_number, HumanTask.due_at, HumanTask.id)
    ).all()
    charges = []
    for task, department in found:
        until = min(task.completed_at or now, end)
        if task.due_at is None or until <= max(task.due_at, start):
            continue
        basis = task.lateness_basis or lateness_basis
        try:
            starts = cal.late_day_starts(task.due_at, until, basis)
        except ValueError:
            log.exception("cannot count the days late of task %s", task.id)
            continue
        days = [(number, at) for number, at in enumerate(starts, start=1) if at >= start]
        if not days:
            continue
        if not department:
            log.warning("charged task %s has no department; not assessed", task.id)
            continue
        charges.append({
            "case_no": task.case_number, "case_id": task.case_id, "department": department,
            "task_id": task.id, "task": task.title, "task_en": task.title_en, "element": task.element_id,
            "charge": task.lateness_charge, "basis": basis, "state": task.state,
            "due_at": _iso(task.due_at), "completed_at": _iso(task.completed_at),
            "first_day": days[0][0], "days": [at.astimezone(cal.tz).date().isoformat() for _n, at in days],
        })
    return charges


def _closed_cases(session: Session, start: datetime, end: datetime) -> list[tuple[str, str]]:
    """(case number, department code) of the cases closed in the week and their responsible
    departments: those with a charged task on the case."""
    return [
        (number, code) for number, code in session.execute(
            select(Case.number, Department.code).distinct()
            .join(HumanTask, HumanTask.case_id == Case.id)
            .join(Department, Department.id == HumanTask.department_id)
            .where(Case.status == "closed", Case.closed_at >= start, Case.closed_at < end,
                   HumanTask.lateness_charge.is_not(None))
        )
    ]


def week_rows(
    session: Session, week_start: date, week_end: date, lateness_basis: str = "working",
    now: datetime | None = None, charges: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """The assessment rows of the week, by case and department: the days late charged in the
    week (:func:`week_charges`) and the cases closed in the week (with 0 days unless charged)."""
    if charges is None:
        charges = week_charges(session, week_start, week_end, lateness_basis, now)
    rows: dict[tuple[str, str], dict[str, Any]] = {}

    def row(case_no: str, department: str) -> dict[str, Any]:
        key = (case_no, department)
        if key not in rows:
            rows[key] = {"case_no": case_no, "department": department, "late_measure_days": 0,
                         "late_execution_days": 0}
        return rows[key]

    for charge in charges:
        field = "late_execution_days" if charge["charge"] == "execution" else "late_measure_days"
        row(charge["case_no"] or "", charge["department"])[field] += len(charge["days"])
    start, end = _week_bounds(week_start, week_end)
    for number, department in _closed_cases(session, start, end):
        row(number, department)
    return [rows[key] for key in sorted(rows)]


def start_weekly_assessment(
    session: Session, runtime: WorkflowRuntime, now: datetime, lateness_basis: str = "working",
) -> ProcessInstance | None:
    """Start the assessment of the week before ``now``; None when it was started already.

    ``lateness_basis`` is the ``ESCALATION_LATENESS_DAYS`` setting (for tasks that name none).
    """
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
    charges = week_charges(session, week_start, week_end, lateness_basis, now)
    rows = week_rows(session, week_start, week_end, lateness_basis, now, charges)
    instance = runtime.start(
        session, PROCESS_KEY,
        {"week_start": week_start.isoformat(), "week_end": week_end.isoformat(), "rows": rows,
         "lateness": charges, "logistics_basis": settings.logistics_basis(session)},
        Actor.system("scheduler"), business_key=key,
    )
    log.info("weekly assessment %s started (%d rows, %d charged tasks)", week, len(rows), len(charges))
    return instance


__all__ = ["assessed_week", "business_key", "start_weekly_assessment", "week_charges", "week_rows"]
