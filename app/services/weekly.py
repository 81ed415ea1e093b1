"""The weekly assessment: started every Monday 09:00 Asia/Shanghai by the scheduler, or by hand.

:func:`start_weekly_assessment` assesses the previous ISO week (Monday 00:00 to Sunday 24:00,
Shanghai time) and starts the process ``weekly_assessment`` with ``week_start``, ``week_end``,
``rows``, ``lateness`` and ``logistics_basis`` (the admin setting, :mod:`app.services.settings`).
:func:`start_from_form` starts a week a person names (its start form gives only ``week``, e.g.
``2026-W48``: a week that has ended), for instance after the scheduler was down; who may is the
diagram's ``manualStart`` (:mod:`app.services.starts`). Either way the rows are computed here
from the indexed tasks, never taken from the caller.

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
import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.clock import clock, local_zone
from app.data.models import Case, Department, HumanTask, InstanceStatus, ProcessInstance
from app.engine.calendar import WorkingCalendar, default_calendar
from app.engine.context import Actor
from app.engine.runtime import WorkflowRuntime
from app.i18n import N_
from app.services import settings
from app.services.cases import next_counter
from app.services.errors import InvalidInput

log = logging.getLogger(__name__)

PROCESS_KEY = "weekly_assessment"
WEEK_RE = re.compile(r"(\d{4})-W(\d{2})")
#: the first year a week may be started by hand (the working calendar has no earlier data)
FIRST_YEAR = 2004


def assessed_week(now: datetime) -> tuple[date, date, str]:
    """(Monday, Sunday, "YYYY-Www") of the ISO week before the one ``now`` falls in (local time)."""
    today = now.astimezone(local_zone()).date()
    monday = today - timedelta(days=today.weekday()) - timedelta(days=7)
    return monday, monday + timedelta(days=6), week_label(monday)


def week_label(monday: date) -> str:
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


KEY_PREFIX = "assessment:"


def business_key(week: str) -> str:
    return f"{KEY_PREFIX}{week}"


def week_of(instance: ProcessInstance) -> str | None:
    """The ISO week ("2026-W48") an assessment instance assesses, from its business key."""
    key = instance.business_key or ""
    return key[len(KEY_PREFIX):] if key.startswith(KEY_PREFIX) else None


def parse_week(text: object) -> date:
    """The Monday of an ISO week written like ``2026-W48``; InvalidInput (field ``week``) otherwise."""
    match = WEEK_RE.fullmatch(str(text or "").strip().upper())
    if match is None:
        raise InvalidInput(N_("Give the week as an ISO week such as 2026-W48."), field="week")
    year, number = int(match.group(1)), int(match.group(2))
    if year < FIRST_YEAR:
        raise InvalidInput(N_("Weeks before 2004 cannot be assessed."), field="week")
    try:
        return date.fromisocalendar(year, number, 1)
    except ValueError:
        raise InvalidInput(N_("That year has no such week."), field="week") from None


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
    """The scheduler's start: the assessment of the week before ``now``; None when it was started already.

    ``lateness_basis`` is the ``ESCALATION_LATENESS_DAYS`` setting (for tasks that name none).
    """
    week_start, _week_end, _week = assessed_week(now)
    instance, created = start_week(session, runtime, week_start, now, Actor.system("scheduler"), lateness_basis)
    return instance if created else None


def start_from_form(
    session: Session, runtime: WorkflowRuntime, data: dict[str, Any], actor: Actor, now: datetime,
    lateness_basis: str = "working",
) -> tuple[ProcessInstance, bool]:
    """A start by hand with the start form's data (``week``): a week that has ended, once."""
    monday = parse_week(data.get("week"))
    if _week_bounds(monday, monday + timedelta(days=6))[1] > now:
        raise InvalidInput(N_("Only a week that has ended can be assessed."), field="week")
    return start_week(session, runtime, monday, now, actor, lateness_basis)


def start_week(
    session: Session, runtime: WorkflowRuntime, monday: date, now: datetime, actor: Actor,
    lateness_basis: str = "working",
) -> tuple[ProcessInstance, bool]:
    """Start the assessment of the ISO week beginning ``monday``, with its rows computed from the
    indexed tasks as of ``now``: ``(instance, True)``, or the week's instance and False when it was
    started already (a cancelled one does not count)."""
    week_start, week_end, week = monday, monday + timedelta(days=6), week_label(monday)
    key = business_key(week)
    next_counter(session, key)  # row lock: a concurrent caller waits here until we commit
    existing = session.scalars(
        select(ProcessInstance).where(
            ProcessInstance.process_key == PROCESS_KEY,
            ProcessInstance.business_key == key,
            ProcessInstance.status != InstanceStatus.CANCELLED,
        ).order_by(ProcessInstance.id).limit(1)
    ).first()
    if existing is not None:
        return existing, False
    charges = week_charges(session, week_start, week_end, lateness_basis, now)
    rows = week_rows(session, week_start, week_end, lateness_basis, now, charges)
    instance = runtime.start(
        session, PROCESS_KEY,
        {"week_start": week_start.isoformat(), "week_end": week_end.isoformat(), "rows": rows,
         "lateness": charges, "logistics_basis": settings.logistics_basis(session)},
        actor, business_key=key,
    )
    log.info("weekly assessment %s started by %s (%d rows, %d charged tasks)", week, actor.label, len(rows),
             len(charges))
    return instance, True


__all__ = [
    "assessed_week", "business_key", "parse_week", "start_from_form", "start_week", "start_weekly_assessment",
    "week_charges", "week_label", "week_of", "week_rows",
]
