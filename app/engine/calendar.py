"""Working-time calendar: Chinese working days (holidays and 调休) and office hours.

Where working days come from, per date:

1. an admin override (a date made a working day or a day off) wins;
2. years the ``chinese_calendar`` package covers (2004–2026 in 1.11.0) use its data: the
   statutory holidays, the bridge days off and the weekend days made working days (调休),
   as the State Council announced them;
3. later years (up to 2100) take the statutory holidays from the rule-based ``holidays``
   package (``holidays.China``: 元旦, 春节 from 农历除夕 to 初三, 清明, 劳动节 1–2 May, 端午,
   中秋, 国庆 1–3 October; the lunar dates computed) together with the in-lieu days it adds
   when a statutory day falls on a weekend (补假, article 6 of 《全国年节及纪念日放假办法》),
   plus every weekend day; everything else Monday–Friday is a working day.

**The holiday period is not guessed.** The longer 假期 the State Council announces each
year (e.g. "春节 8 days from 除夕", "国庆 7 days") is made by moving weekend days: extra
bridge days off *and* the weekend days worked in exchange (调休). Which days are swapped
differs from year to year (the 2025 Spring Festival was 8 days, 2026's 9), so it cannot be
derived from a rule; a guessed bridge day without its makeup day would make deadlines too
generous. For a year past the package's data the calendar therefore holds the statutory
days and their 补假 only, and the admins enter the announced bridge days (day off) and
makeup days (working day) as overrides, then confirm the year
(:mod:`app.services.calendar_admin`); until then they are warned.
:meth:`WorkingCalendar.uncovered_years` names the years without announced 调休 data.

Working hours default to 08:30–12:00 and 13:00–17:30 in the configured local time zone
(``APP_TIMEZONE``), so a working day is 8 working hours and half a working day 4. All arithmetic is done on UTC
instants, so the results are exact even across daylight-saving changes of a configured zone.

Importing this module registers ``add_working_hours``, ``add_working_days``,
``end_of_working_day`` and ``days_late`` with the diagram expression sandbox
(:mod:`app.engine.helpers`); :func:`depends_on_working_calendar` tells whether a diagram
expression computes a deadline with them (such deadlines are recomputed when the calendar
changes).
"""

from __future__ import annotations

import ast
import functools
import math
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import chinese_calendar
import holidays

from app.clock import local_zone
from app.engine.helpers import register_helper, to_datetime

__all__ = [
    "DEFAULT_PERIODS",
    "MAX_SPAN_DAYS",
    "WorkingCalendar",
    "LATENESS_BASES",
    "WORKING_TIME_HELPERS",
    "add_working_days",
    "add_working_hours",
    "days_late",
    "depends_on_working_calendar",
    "days_late_helper",
    "default_calendar",
    "end_of_working_day",
    "set_default_calendar",
    "statutory_holidays",
]

DEFAULT_PERIODS: tuple[tuple[time, time], ...] = (
    (time(8, 30), time(12, 0)),
    (time(13, 0), time(17, 30)),
)
MAX_SPAN_DAYS = 5 * 366  # longest stretch of calendar days any computation may walk
#: How days late are counted: started working days (default) or started calendar days.
LATENESS_BASES = ("working", "calendar")

_ONE_DAY = timedelta(days=1)
_ZERO = timedelta(0)
#: the working periods of one day as UTC intervals
_Intervals = tuple[tuple[datetime, datetime], ...]
#: days of intervals kept (a few years of days touched; cleared, not evicted, when full)
_INTERVALS_CACHE_SIZE = 4096
#: The diagram helpers whose result depends on which days are working days.
WORKING_TIME_HELPERS = frozenset({"add_working_hours", "add_working_days", "end_of_working_day"})
_HOLIDAY_LANGUAGES = {"zh": "zh_CN", "en": "en_US"}


@functools.lru_cache(maxsize=256)
def _rule_holidays(year: int, language: str) -> tuple[tuple[date, str], ...]:
    try:
        found = holidays.China(years=year, language=language)  # type: ignore[no-untyped-call]
    except (NotImplementedError, ValueError, KeyError):  # outside the rules' range
        return ()
    return tuple(sorted(found.items()))


def statutory_holidays(year: int, language: str = "en") -> list[tuple[date, str]]:
    """The statutory days off of ``year`` by the rules of the ``holidays`` package, with the
    in-lieu days (补假) for those on a weekend, as ``(date, name)`` in ``language`` ("zh"/"en").

    Empty outside the years the rules cover (1950–2100)."""
    return list(_rule_holidays(int(year), _HOLIDAY_LANGUAGES.get(language, "en_US")))


def depends_on_working_calendar(expression: str | None) -> bool:
    """Whether a diagram expression calls one of :data:`WORKING_TIME_HELPERS`, i.e. its result
    (a deadline) changes when the working calendar does."""
    if not expression:
        return False
    try:
        tree = ast.parse(str(expression).strip(), mode="eval")
    except SyntaxError:
        return False
    return any(isinstance(node, ast.Name) and node.id in WORKING_TIME_HELPERS for node in ast.walk(tree))


def _require_aware(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
    return value


def _as_timedelta_hours(hours: float, max_days: int, name: str = "hours") -> timedelta:
    try:
        value = float(hours)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a number") from exc
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite")
    if value < 0:
        raise ValueError(f"{name} must not be negative")
    if value > max_days * 24:
        raise ValueError(f"{name} is too large (more than {max_days} days)")
    return timedelta(hours=value)


def _ceil_div(numerator: timedelta, denominator: timedelta) -> int:
    """``ceil(numerator / denominator)`` computed exactly on microseconds."""
    num = numerator // timedelta(microseconds=1)
    den = denominator // timedelta(microseconds=1)
    return -(-num // den)


class WorkingCalendar:
    """Working days and working hours of the company.

    ``overrides`` maps dates to ``True`` (working day) or ``False`` (day off) and wins over
    both the package data and weekends. ``periods`` are the daily working periods as
    ``(start, end)`` wall-clock times in ``timezone``, sorted and non-overlapping; without a
    ``timezone`` the calendar follows the configured local zone (:func:`app.clock.local_zone`).
    """

    def __init__(
        self,
        overrides: Mapping[date, bool] | None = None,
        periods: Sequence[tuple[time, time]] = DEFAULT_PERIODS,
        timezone: str | None = None,
        max_span_days: int = MAX_SPAN_DAYS,
    ) -> None:
        self._tz = ZoneInfo(timezone) if timezone else None
        self.periods = self._validate_periods(periods)
        self.day_length: timedelta = sum(
            (self._period_length(s, e) for s, e in self.periods), _ZERO
        )
        self.hours_per_day: float = self.day_length / timedelta(hours=1)
        if max_span_days < 1:
            raise ValueError("max_span_days must be positive")
        self.max_span_days = int(max_span_days)
        # (overrides, working-day cache, intervals cache) swapped as one tuple so readers never
        # mix old and new.
        self._state: tuple[dict[date, bool], dict[date, bool], dict[tuple[date, str], _Intervals]] = ({}, {}, {})
        self._year_covered: dict[int, bool] = {}
        self._rule_days_off: dict[int, frozenset[date]] = {}
        self.set_overrides(overrides or {})

    # -- configuration -------------------------------------------------------------

    @property
    def tz(self) -> ZoneInfo:
        """The calendar's time zone (read on use, so a configured zone set later applies)."""
        return self._tz or local_zone()

    @staticmethod
    def _period_length(start: time, end: time) -> timedelta:
        day = date(2000, 1, 1)
        return datetime.combine(day, end) - datetime.combine(day, start)

    @classmethod
    def _validate_periods(
        cls, periods: Sequence[tuple[time, time]]
    ) -> tuple[tuple[time, time], ...]:
        result = tuple((start, end) for start, end in periods)
        if not result:
            raise ValueError("at least one working period is needed")
        previous_end: time | None = None
        for start, end in result:
            if not isinstance(start, time) or not isinstance(end, time):
                raise ValueError("working periods must be pairs of datetime.time")
            if start.tzinfo is not None or end.tzinfo is not None:
                raise ValueError("working period times must be naive wall-clock times")
            if start >= end:
                raise ValueError(f"working period {start}–{end} is empty")
            if previous_end is not None and start < previous_end:
                raise ValueError("working periods must be sorted and must not overlap")
            previous_end = end
        return result

    @property
    def overrides(self) -> dict[date, bool]:
        """A copy of the admin overrides."""
        return dict(self._state[0])

    def set_overrides(self, overrides: Mapping[date, bool]) -> None:
        """Replace the admin overrides (date -> working day?)."""
        cleaned: dict[date, bool] = {}
        for key, value in overrides.items():
            day = key.date() if isinstance(key, datetime) else key
            if not isinstance(day, date):
                raise ValueError(f"override key {key!r} is not a date")
            cleaned[day] = bool(value)
        self._state = (cleaned, {}, {})

    # -- working days ----------------------------------------------------------------

    def _package_covers_year(self, year: int) -> bool:
        covered = self._year_covered.get(year)
        if covered is None:
            try:
                chinese_calendar.is_workday(date(year, 6, 1))
                covered = True
            except NotImplementedError:
                covered = False
            self._year_covered[year] = covered
        return covered

    def _statutory_days_off(self, year: int) -> frozenset[date]:
        days = self._rule_days_off.get(year)
        if days is None:
            days = frozenset(day for day, _name in _rule_holidays(year, "en_US"))
            self._rule_days_off[year] = days
        return days

    def covers(self, day: date) -> bool:
        """Whether ``chinese_calendar`` has the announced holidays and 调休 days for ``day``'s
        year (overrides aside); other years use the statutory holidays by rule."""
        if isinstance(day, datetime):
            day = day.date()
        return self._package_covers_year(day.year)

    def uncovered_years(self, years: Iterable[int]) -> list[int]:
        """The sorted years among ``years`` that the package does not cover.

        Those years have the statutory holidays (by rule) but not the announced bridge days
        and makeup working days (调休): an admin enters them as overrides.
        """
        return sorted({int(y) for y in years if not self._package_covers_year(int(y))})

    def is_working_day(self, day: date) -> bool:
        """Whether ``day`` is a working day: override, else package data, else Mon–Fri that is
        not a statutory holiday (or its in-lieu day) by rule."""
        if isinstance(day, datetime):
            day = day.date()
        overrides, cache, _ = self._state
        cached = cache.get(day)
        if cached is not None:
            return cached
        override = overrides.get(day)
        if override is not None:
            result = override
        elif self._package_covers_year(day.year):
            try:
                result = bool(chinese_calendar.is_workday(day))
            except NotImplementedError:
                result = self._by_rule(day)
        else:
            result = self._by_rule(day)
        cache[day] = result
        return result

    def _by_rule(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self._statutory_days_off(day.year)

    # -- working hours ---------------------------------------------------------------

    def _intervals(self, day: date) -> _Intervals:
        """The working periods of ``day`` as UTC intervals (empty on days off).

        Cached per day and zone: a page of time-left badges walks the same few weeks for every
        row, and each day's conversion to UTC was most of a badge's cost."""
        tz = self.tz
        cache = self._state[2]
        key = (day, tz.key)
        cached = cache.get(key)
        if cached is not None:
            return cached
        if not self.is_working_day(day):
            result: _Intervals = ()
        else:
            pairs = []
            for start, end in self.periods:
                s = datetime.combine(day, start, tzinfo=tz).astimezone(UTC)
                e = datetime.combine(day, end, tzinfo=tz).astimezone(UTC)
                if s < e:
                    pairs.append((s, e))
            result = tuple(pairs)
        if len(cache) >= _INTERVALS_CACHE_SIZE:
            cache.clear()
        cache[key] = result
        return result

    def _local_day(self, instant: datetime) -> date:
        return instant.astimezone(self.tz).date()

    def add_working_hours(self, start: datetime, hours: float) -> datetime:
        """``start`` plus ``hours`` of working time, as an aware UTC datetime.

        A start outside working hours starts counting at the next working period; adding
        0 hours returns ``start`` unchanged. A result that lands exactly on the end of a
        period is that end (e.g. 12:00, not 13:00).
        """
        _require_aware(start, "start")
        remaining = _as_timedelta_hours(hours, self.max_span_days)
        try:
            cursor = start.astimezone(UTC)
            if remaining == _ZERO:
                return cursor
            # Start one day early: a UTC instant may belong to the previous local day.
            day = self._local_day(cursor) - _ONE_DAY
            for _ in range(self.max_span_days + 2):
                for s, e in self._intervals(day):
                    if e <= cursor:
                        continue
                    cursor = max(cursor, s)
                    available = e - cursor
                    if remaining <= available:
                        return cursor + remaining
                    remaining -= available
                    cursor = e
                day += _ONE_DAY
        except OverflowError as exc:
            raise ValueError("date out of range") from exc
        raise ValueError(f"no result within {self.max_span_days} days of {start.isoformat()}")

    def add_working_days(self, start: datetime, days: float) -> datetime:
        """``start`` plus ``days`` working days, one day being a full day's working hours."""
        try:
            value = float(days)
        except (TypeError, ValueError) as exc:
            raise ValueError("days must be a number") from exc
        if not math.isfinite(value):
            raise ValueError("days must be finite")
        if value < 0:
            raise ValueError("days must not be negative")
        if value > self.max_span_days:
            raise ValueError(f"days is too large (more than {self.max_span_days})")
        return self.add_working_hours(start, value * self.hours_per_day)

    def end_of_working_day(self, day: date) -> datetime:
        """The end of the last working period of ``day`` (UTC); a day off moves to the next working day.

        This is when a deadline given as a date (e.g. a corrective action due on 2026-10-01,
        a holiday) expires: at the close of business of that day or of the first working
        day after it.
        """
        if isinstance(day, datetime):
            day = self._local_day(_require_aware(day, "day"))
        try:
            for _ in range(self.max_span_days + 1):
                intervals = self._intervals(day)
                if intervals:
                    return intervals[-1][1]
                day += _ONE_DAY
        except OverflowError as exc:
            raise ValueError("date out of range") from exc
        raise ValueError(f"no working day within {self.max_span_days} days")

    def days_late(self, due: datetime, done: datetime, basis: str = "working") -> int:
        """Started days ``done`` is after ``due``, in working (default) or calendar days."""
        if basis not in LATENESS_BASES:
            raise ValueError(f"lateness basis must be one of {LATENESS_BASES}")
        if basis == "calendar":
            return self.calendar_days_late(due, done)
        return self.working_days_late(due, done)

    def _working_time_between(self, a: datetime, b: datetime) -> timedelta:
        """Working time in ``[a, b]`` (negative when ``b`` is before ``a``)."""
        _require_aware(a, "a")
        _require_aware(b, "b")
        a, b = a.astimezone(UTC), b.astimezone(UTC)
        if b < a:
            return -self._working_time_between(b, a)
        if b - a > timedelta(days=self.max_span_days):
            raise ValueError(f"span longer than {self.max_span_days} days")
        total = _ZERO
        try:
            day = self._local_day(a) - _ONE_DAY
            last = self._local_day(b) + _ONE_DAY
            while day <= last:
                for s, e in self._intervals(day):
                    lo, hi = max(s, a), min(e, b)
                    if lo < hi:
                        total += hi - lo
                day += _ONE_DAY
        except OverflowError as exc:
            raise ValueError("date out of range") from exc
        return total

    def working_hours_between(self, a: datetime, b: datetime) -> float:
        """Working hours from ``a`` to ``b`` (negative when ``b`` is before ``a``)."""
        return self._working_time_between(a, b) / timedelta(hours=1)

    def working_days_late(self, due: datetime, done: datetime) -> int:
        """Started working days of lateness: ``ceil(working hours after due / hours per day)``.

        0 when ``done`` is not after ``due`` or no working time passed in between (e.g. done
        on the weekend after a Friday-evening deadline). One working minute late is 1 day;
        exactly one full working day late is 1; a minute more is 2.
        """
        late = self._working_time_between(due, done)
        if late <= _ZERO:
            return 0
        return _ceil_div(late, self.day_length)

    @staticmethod
    def calendar_days_late(due: datetime, done: datetime) -> int:
        """Started calendar days of lateness: ``ceil((done - due) / 24 h)``, 0 when on time."""
        _require_aware(due, "due")
        _require_aware(done, "done")
        late = done.astimezone(UTC) - due.astimezone(UTC)
        if late <= _ZERO:
            return 0
        return _ceil_div(late, _ONE_DAY)

    def late_day_starts(self, due: datetime, done: datetime, basis: str = "working") -> list[datetime]:
        """The instants (UTC) at which each started day of lateness from ``due`` to ``done`` began.

        There are exactly ``days_late(due, done, basis)`` of them: day *k* begins when the
        lateness (working time, or clock time for ``calendar``) first exceeds *k − 1* days, so a
        working day started at 17:00 on Friday begins then, and one reached exactly at 17:30
        begins at the next opening. Summing the starts that fall into consecutive periods counts
        every day once, in the period it began.
        """
        if basis not in LATENESS_BASES:
            raise ValueError(f"lateness basis must be one of {LATENESS_BASES}")
        _require_aware(due, "due")
        _require_aware(done, "done")
        due, done = due.astimezone(UTC), done.astimezone(UTC)
        if done <= due:
            return []
        if basis == "calendar":
            return [due + k * _ONE_DAY for k in range(self.calendar_days_late(due, done))]
        if done - due > timedelta(days=self.max_span_days):
            raise ValueError(f"span longer than {self.max_span_days} days")
        starts: list[datetime] = []
        elapsed = _ZERO
        try:
            day, last = self._local_day(due) - _ONE_DAY, self._local_day(done) + _ONE_DAY
            while day <= last:
                for s, e in self._intervals(day):
                    cursor, hi = max(s, due), min(e, done)
                    while cursor < hi:
                        into_day = elapsed % self.day_length
                        if into_day == _ZERO:
                            starts.append(cursor)
                        step = min(hi - cursor, self.day_length - into_day)
                        cursor += step
                        elapsed += step
                day += _ONE_DAY
        except OverflowError as exc:
            raise ValueError("date out of range") from exc
        return starts


_default_lock = threading.Lock()
_default: WorkingCalendar | None = None


def default_calendar() -> WorkingCalendar:
    """The process-wide calendar used by the diagram helpers (created on first use)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = WorkingCalendar()
        return _default


def set_default_calendar(cal: WorkingCalendar | None) -> None:
    """Replace the process-wide calendar (``None`` restores a fresh default one)."""
    global _default
    with _default_lock:
        _default = cal


def add_working_hours(start: Any, hours: float) -> str:
    """Diagram helper: ISO string/datetime ``start`` plus working hours, as a UTC ISO string.

    A naive ``start`` is read as UTC (like the other helpers).
    """
    return default_calendar().add_working_hours(to_datetime(start), hours).isoformat()


def add_working_days(start: Any, days: float) -> str:
    """Diagram helper: ISO string/datetime ``start`` plus working days, as a UTC ISO string.

    A naive ``start`` is read as UTC (like the other helpers).
    """
    return default_calendar().add_working_days(to_datetime(start), days).isoformat()


def _to_day(value: Any, cal: WorkingCalendar) -> date:
    """The calendar day of ``value``: a date as given ("2026-03-12"), an instant (datetime or
    ISO text with a time; naive is UTC like the other helpers) as its day in the calendar's
    time zone — 2026-03-06T20:00Z is already Saturday in Shanghai."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    text = "" if isinstance(value, datetime) else str(value).strip()
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return to_datetime(value).astimezone(cal.tz).date()
    except ValueError as exc:
        raise ValueError(f"not a date: {text[:40]!r}") from exc


def end_of_working_day(day: Any) -> str:
    """Diagram helper: close of business of ``day`` (a date, or an instant taken in the
    calendar's time zone) or of the next working day when that day is off, as a UTC ISO string."""
    cal = default_calendar()
    return cal.end_of_working_day(_to_day(day, cal)).isoformat()


def days_late(due: Any, done: Any, basis: str = "working") -> int:
    """Started days ``done`` is after ``due`` (ISO strings or datetimes), 0 when on time."""
    return default_calendar().days_late(to_datetime(due), to_datetime(done), basis)


def days_late_helper(basis: str) -> Callable[[Any, Any], int]:
    """The ``days_late(due, done)`` diagram helper counting in ``basis`` days (the
    ``ESCALATION_LATENESS_DAYS`` setting), so a diagram never names the basis itself."""
    if basis not in LATENESS_BASES:
        raise ValueError(f"lateness basis must be one of {LATENESS_BASES}")

    def days_late_in_basis(due: Any, done: Any) -> int:
        return days_late(due, done, basis)

    return days_late_in_basis


register_helper("add_working_hours", add_working_hours)
register_helper("add_working_days", add_working_days)
register_helper("end_of_working_day", end_of_working_day)
register_helper("days_late", days_late_helper("working"))
