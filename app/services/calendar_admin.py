"""Admin overrides of the working-time calendar, loaded into the process-wide calendar.

Every change bumps the counter ``calendar_version``; each process remembers the version it
loaded and reloads when it differs (checked at most once a second per process, on requests
and by the scheduler), so all web workers and the scheduler use the same calendar.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import delete, extract, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.clock import clock, local_zone
from app.data.models import CalendarOverride, Counter
from app.engine.calendar import WorkingCalendar, default_calendar, set_default_calendar
from app.i18n import N_
from app.services.cases import next_counter

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


def refresh_if_changed(app, session: Session, force: bool = False) -> bool:
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
                 actor_id: int | None = None) -> CalendarOverride:
    """Add or replace the override of ``day``."""
    if not isinstance(day, date) or isinstance(day, datetime):
        raise CalendarError(N_("Please give a valid date."))
    row = session.get(CalendarOverride, day)
    if row is None:
        row = CalendarOverride(day=day)
        session.add(row)
    row.working = bool(working)
    row.note = (note or "").strip()[:200] or None
    row.created_by_id = actor_id
    row.created_at = clock.now()
    next_counter(session, VERSION_COUNTER)
    session.flush()
    return row


def remove_override(session: Session, day: date) -> bool:
    result = session.execute(delete(CalendarOverride).where(CalendarOverride.day == day))
    if result.rowcount:
        next_counter(session, VERSION_COUNTER)
        return True
    return False


def years_needing_entries(session: Session, now: datetime | None = None) -> list[int]:
    """Next year (local time) when the holiday package does not cover it and no override
    has been entered for it yet — admins should enter its holidays and 调休 days."""
    year = (now or clock.now()).astimezone(local_zone()).year + 1
    if not default_calendar().uncovered_years([year]):
        return []
    entered = session.scalar(
        select(CalendarOverride.day).where(extract("year", CalendarOverride.day) == year).limit(1)
    )
    return [] if entered is not None else [year]


__all__ = [
    "CalendarError",
    "load_calendar",
    "overrides",
    "refresh_if_changed",
    "remove_override",
    "set_override",
    "years_needing_entries",
]
