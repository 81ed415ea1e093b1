"""Admin overrides of the working-time calendar, loaded into the process-wide calendar, and
the per-year confirmations that a year's announced 调休 days are entered.

A change of the overrides moves the pending deadlines computed with the calendar, in the same
transaction (:func:`recompute_deadlines`). Every change bumps the counter ``calendar_version``;
each process remembers the version it loaded and reloads when it differs (checked at most
once a second per process, on requests and by the scheduler), so all web workers and the
scheduler use the same calendar.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.clock import clock
from app.data.db import rowcount
from app.data.models import (
    CalendarOverride,
    CalendarYearConfirmation,
    Counter,
    HumanTask,
    InstanceStatus,
    ProcessDefinition,
    ProcessInstance,
    TaskState,
)
from app.engine import audit
from app.engine.calendar import WorkingCalendar, default_calendar, set_default_calendar
from app.engine.context import Actor
from app.engine.deadlines import DeadlineMove, calendar_elements
from app.engine.definitions.lookup import load_spec
from app.engine.runtime import WorkflowRuntime
from app.i18n import N_
from app.services import customer_clock, escalation
from app.services.cases import next_counter
from app.services.escalation import LadderSettings

VERSION_COUNTER = "calendar_version"
CHECK_EVERY_SECONDS = 1.0


class CalendarError(ValueError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def overrides(session: Session) -> Sequence[CalendarOverride]:
    return session.scalars(select(CalendarOverride).order_by(CalendarOverride.day)).all()


def current_version(session: Session) -> int:
    return session.scalar(select(Counter.value).where(Counter.name == VERSION_COUNTER)) or 0


def load_calendar(session: Session) -> WorkingCalendar:
    """Build the calendar from the overrides in the database and make it the default."""
    cal = WorkingCalendar({o.day: o.working for o in overrides(session)})
    set_default_calendar(cal)
    return cal


def refresh_if_changed(app: Any, session: Session, force: bool = False) -> bool:
    """Reload the default calendar when the stored version differs from this app's; True if reloaded."""
    state = app.extensions.setdefault("calendar_state", {"version": None, "checked": 0.0})
    now = time.monotonic()
    if not force and state["version"] is not None and now - state["checked"] < CHECK_EVERY_SECONDS:
        return False
    state["checked"] = now
    try:
        version = current_version(session)
        if not force and version == state["version"]:
            return False
        load_calendar(session)
    except SQLAlchemyError:  # not migrated yet (e.g. during `flask migrate`)
        session.rollback()
        return False
    state["version"] = version
    return True


def set_override(session: Session, day: date, working: bool, note: str | None = None,
                 actor: Actor | None = None, runtime: WorkflowRuntime | None = None,
                 ladder: LadderSettings | None = None) -> list[DeadlineMove]:
    """Add or replace the override of ``day``; with ``runtime``, the pending deadlines computed
    with the calendar move in the same transaction (:func:`recompute_deadlines`)."""
    if not isinstance(day, date) or isinstance(day, datetime):
        raise CalendarError(N_("Please give a valid date."))
    row = session.get(CalendarOverride, day)
    before = _override(row)
    if row is None:
        row = CalendarOverride(day=day)
        session.add(row)
    row.working = bool(working)
    row.note = (note or "").strip()[:200] or None
    row.created_by_id = actor.id if actor else None
    row.created_at = clock.now()
    audit.record(session, actor=actor or Actor.system("calendar"), action="calendar_override_set",
                 element=day.isoformat(), message=day.isoformat(), before=before, after=_override(row))
    return _calendar_changed(session, actor, runtime, ladder)


def _override(row: CalendarOverride | None) -> dict[str, Any] | None:
    return None if row is None else {"day": row.day, "working": row.working, "note": row.note}


def remove_override(session: Session, day: date, actor: Actor | None = None,
                    runtime: WorkflowRuntime | None = None,
                    ladder: LadderSettings | None = None) -> list[DeadlineMove] | None:
    """Remove the override of ``day`` (None when there was none); deadlines move as for
    :func:`set_override`."""
    before = _override(session.get(CalendarOverride, day))
    result = session.execute(delete(CalendarOverride).where(CalendarOverride.day == day))
    if not rowcount(result):
        return None
    audit.record(session, actor=actor or Actor.system("calendar"), action="calendar_override_removed",
                 element=day.isoformat(), message=day.isoformat(), before=before)
    return _calendar_changed(session, actor, runtime, ladder)


def _calendar_changed(session: Session, actor: Actor | None, runtime: WorkflowRuntime | None,
                      ladder: LadderSettings | None) -> list[DeadlineMove]:
    next_counter(session, VERSION_COUNTER)
    session.flush()
    # This process computes with the new calendar from now on; should the transaction roll
    # back, the caller reloads it (refresh_if_changed(force=True)).
    load_calendar(session)
    customer_clock.recompute_running(session, clock.now())
    if runtime is None:
        return []
    return recompute_deadlines(session, runtime, actor or Actor.system("calendar"), ladder or LadderSettings())


def _candidate_instances(session: Session) -> list[int]:
    """Running instances that may have a pending deadline computed with the calendar: an open
    task whose due time or boundary timer uses it, or (for a process with such a timer
    elsewhere) any pending timer. Only their workflows are loaded."""
    definitions = session.scalars(
        select(ProcessDefinition).where(ProcessDefinition.id.in_(
            select(ProcessInstance.definition_id).where(ProcessInstance.status == InstanceStatus.RUNNING)
        ))
    ).all()
    found: set[int] = set()
    for definition in definitions:
        elements = calendar_elements(load_spec(session, definition))
        running = (ProcessInstance.definition_id == definition.id) & (ProcessInstance.status == InstanceStatus.RUNNING)
        if elements.tasks:
            found.update(session.scalars(
                select(HumanTask.instance_id).join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
                .where(running, HumanTask.state == TaskState.OPEN, HumanTask.element_id.in_(sorted(elements.tasks)))
            ))
        if elements.other_timers:
            found.update(session.scalars(
                select(ProcessInstance.id).where(running, ProcessInstance.next_due_at.is_not(None))
            ))
    return sorted(found)


def recompute_deadlines(session: Session, runtime: WorkflowRuntime, actor: Actor,
                        ladder: LadderSettings) -> list[DeadlineMove]:
    """Move every pending deadline that the current calendar puts elsewhere: open human tasks'
    due times (their escalation steps not reached any more are forgotten) and waiting timers,
    each recorded on the case timeline ("deadline_moved"). Part of the caller's transaction."""
    moves: list[DeadlineMove] = []
    now = clock.now()
    for instance_id in _candidate_instances(session):
        moved = runtime.recompute_deadlines(session, instance_id, actor)
        for move in moved:
            if move.kind == "task":
                escalation.rewind(session, session.get_one(HumanTask, move.task_id), now, ladder)
        moves += moved
    return moves


def local_year(now: datetime | None = None) -> int:
    """The current year in the calendar's time zone."""
    return (now or clock.now()).astimezone(default_calendar().tz).year


def confirmations(session: Session) -> dict[int, CalendarYearConfirmation]:
    return {row.year: row for row in session.scalars(select(CalendarYearConfirmation))}


def confirm_year(session: Session, year: int, actor: Actor) -> CalendarYearConfirmation:
    """Record that ``year``'s announced bridge days and makeup working days are entered."""
    if not default_calendar().uncovered_years([year]):
        raise CalendarError(N_("The holiday package already has this year's holidays and adjusted working days."))
    row = session.get(CalendarYearConfirmation, year)
    if row is None:
        row = CalendarYearConfirmation(year=year)
        session.add(row)
    row.confirmed_by_id = actor.id
    row.confirmed_at = clock.now()
    session.flush()
    audit.record(session, actor=actor, action="calendar_year_confirmed", element=str(year), message=str(year),
                 after={"year": year})
    return row


def withdraw_confirmation(session: Session, year: int, actor: Actor) -> bool:
    result = session.execute(delete(CalendarYearConfirmation).where(CalendarYearConfirmation.year == year))
    if not rowcount(result):
        return False
    audit.record(session, actor=actor, action="calendar_confirmation_withdrawn", element=str(year),
                 message=str(year), before={"year": year})
    return True


def years_needing_entries(session: Session, now: datetime | None = None) -> list[int]:
    """The current and next year (calendar time zone) whose announced 调休 days the holiday
    package does not have and no admin has confirmed as entered: admins are warned until
    then. Entries alone do not count (a single stray override is not the year's schedule)."""
    year = local_year(now)
    missing = default_calendar().uncovered_years([year, year + 1])
    if not missing:
        return []
    confirmed = set(session.scalars(
        select(CalendarYearConfirmation.year).where(CalendarYearConfirmation.year.in_(missing))
    ))
    return [y for y in missing if y not in confirmed]


__all__ = [
    "CalendarError",
    "confirm_year",
    "confirmations",
    "load_calendar",
    "local_year",
    "overrides",
    "recompute_deadlines",
    "refresh_if_changed",
    "remove_override",
    "set_override",
    "withdraw_confirmation",
    "years_needing_entries",
]
