"""Working time between one instant and many others, as a page of rows asks for it.

A page of 50 inbox rows asked the working calendar for the working time from now to each row's
due time, and each question walked every day in between (tasks three weeks overdue: about 2,000
days walked per page). :class:`Ruler` measures each instant's working time from one anchor
(the page's "now") once, starting from the nearest instant already measured, so the page walks
the calendar's days about once. The result is exact: working time is additive and the calendar
counts it in whole microseconds, so :meth:`Ruler.working_hours_between` returns what
:meth:`WorkingCalendar.working_hours_between` returns.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from datetime import datetime, timedelta

from app.engine.calendar import WorkingCalendar

_HOUR = timedelta(hours=1)
_MICROSECONDS_PER_HOUR = 3_600_000_000


class Ruler:
    """A :class:`WorkingCalendar` for many questions near one ``anchor`` (read-only: the
    calendar's hours per day and ``add_working_hours`` are the calendar's own)."""

    def __init__(self, calendar: WorkingCalendar, anchor: datetime) -> None:
        if not _aware(anchor):
            raise ValueError("the anchor must be a timezone-aware datetime")
        self.calendar = calendar
        self.hours_per_day = calendar.hours_per_day
        self.max_span_days = calendar.max_span_days
        self._known = [anchor]  # sorted instants whose position is known
        self._position = {anchor: 0}  # working microseconds from the anchor (negative: before it)

    def add_working_hours(self, start: datetime, hours: float) -> datetime:
        return self.calendar.add_working_hours(start, hours)

    def _microseconds(self, a: datetime, b: datetime) -> int:
        # the calendar's hours are its microseconds divided by an hour: multiplied back they are
        # exact (far below 2**53 microseconds within the longest span it allows)
        return round(self.calendar.working_hours_between(a, b) * _MICROSECONDS_PER_HOUR)

    def _from_anchor(self, instant: datetime) -> int:
        """Working microseconds from the anchor to ``instant`` (negative before the anchor)."""
        found = self._position.get(instant)
        if found is not None:
            return found
        i = bisect_left(self._known, instant)
        near = min(self._known[max(i - 1, 0):i + 1], key=lambda known: abs(known - instant))
        found = self._position[near] + self._microseconds(near, instant)
        self._position[instant] = found
        insort(self._known, instant)
        return found

    def working_hours_between(self, a: datetime, b: datetime) -> float:
        """Working hours from ``a`` to ``b`` (negative when ``b`` is before ``a``), as the calendar
        counts them; a span longer than the calendar allows is refused as it refuses it."""
        if not (_aware(a) and _aware(b)) or abs(b - a) > timedelta(days=self.max_span_days):
            return self.calendar.working_hours_between(a, b)  # its answer, or its refusal
        return timedelta(microseconds=self._from_anchor(b) - self._from_anchor(a)) / _HOUR


def _aware(value: datetime) -> bool:
    return isinstance(value, datetime) and value.tzinfo is not None and value.utcoffset() is not None
