"""The period and filters of a report: parsed once into a frozen :class:`ReportFilter`.

A period is a range of local dates, ``start`` to ``end`` inclusive: the week, month or quarter
containing ``anchor`` (a date, default today), or a custom range (``start``/``end``, at most
:data:`MAX_CUSTOM_DAYS`). :meth:`ReportFilter.previous` is the period of the same length just
before (the previous week, month, quarter, or the same number of days), for comparisons.

The other filters narrow the cases: ``department`` (a department code: cases where it has or had
a task), ``product_model``, ``feedback_type``, ``category``, ``channel`` (equal values).
``scope`` is set by :func:`app.services.analytics.scope.scoped` from the policy, never from the
request: None for everything, otherwise the department ids the user may see.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta

from app.clock import local_now, local_zone
from app.i18n import N_
from app.services.errors import InvalidInput

PERIODS = ("week", "month", "quarter", "custom")
#: the filters a request may give besides the period (query parameter → ReportFilter field)
CASE_FILTERS = ("department", "product_model", "feedback_type", "category", "channel")
MAX_CUSTOM_DAYS = 3 * 366
MAX_VALUE_LENGTH = 120
MIN_YEAR, MAX_YEAR = 2000, 2100


@dataclass(frozen=True)
class ReportFilter:
    period: str
    start: date
    end: date  # inclusive
    department: str | None = None
    product_model: str | None = None
    feedback_type: str | None = None
    category: str | None = None
    channel: str | None = None
    #: department ids the user may see (None: all); set from the policy only
    scope: frozenset[int] | None = None

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def start_utc(self) -> datetime:
        """The first instant of the period (local midnight of ``start``), in UTC."""
        return datetime.combine(self.start, time(), local_zone()).astimezone(UTC)

    @property
    def end_utc(self) -> datetime:
        """The instant the period ends (exclusive: local midnight after ``end``), in UTC."""
        return datetime.combine(self.end + timedelta(days=1), time(), local_zone()).astimezone(UTC)

    def previous(self) -> ReportFilter:
        """The period of the same kind just before this one (same filters)."""
        if self.period == "week":
            start = self.start - timedelta(days=7)
            return replace(self, start=start, end=start + timedelta(days=6))
        if self.period in ("month", "quarter"):
            months = 1 if self.period == "month" else 3
            start = _add_months(self.start, -months)
            return replace(self, start=start, end=self.start - timedelta(days=1))
        return replace(self, start=self.start - timedelta(days=self.days), end=self.start - timedelta(days=1))

    def query_args(self) -> dict[str, str]:
        """The filter as query parameters (for links to the same view, downloads, drill-downs)."""
        args = {"period": self.period, "start": self.start.isoformat()}
        if self.period == "custom":
            args["end"] = self.end.isoformat()
        for name in CASE_FILTERS:
            value = getattr(self, name)
            if value:
                args[name] = value
        return args

    def label(self) -> str:
        return f"{self.start.isoformat()} – {self.end.isoformat()}"


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _date(value: str | None, message: str) -> date | None:
    if not value:
        return None
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(message, value=value[:40]) from None
    if not MIN_YEAR <= day.year <= MAX_YEAR:
        raise InvalidInput(N_("The date is out of range."), value=value[:40])
    return day


def period_range(period: str, anchor: date) -> tuple[date, date]:
    """(first day, last day) of the week (Monday–Sunday), month or quarter containing ``anchor``."""
    if period == "week":
        start = anchor - timedelta(days=anchor.weekday())
        return start, start + timedelta(days=6)
    start = anchor.replace(day=1) if period == "month" else date(anchor.year, (anchor.month - 1) // 3 * 3 + 1, 1)
    return start, _add_months(start, 1 if period == "month" else 3) - timedelta(days=1)


def parse_filter(args: Mapping[str, str], today: date | None = None) -> ReportFilter:
    """The filter a request's query parameters describe; InvalidInput (with a message in the
    catalogue) for an unknown period, a malformed date, an empty or too long custom range."""
    period = (args.get("period") or "month").strip()
    if any("\x00" in (args.get(name) or "") for name in ("start", "end")):
        raise InvalidInput(N_("The start date is not a date (YYYY-MM-DD)."))
    if period not in PERIODS:
        raise InvalidInput(N_("Unknown period: choose week, month, quarter or custom."))
    today = today or local_now().date()
    start = _date(args.get("start"), N_("The start date is not a date (YYYY-MM-DD)."))
    if period == "custom":
        end = _date(args.get("end"), N_("The end date is not a date (YYYY-MM-DD)."))
        if start is None or end is None:
            raise InvalidInput(N_("A custom period needs a start and an end date."))
        if end < start:
            raise InvalidInput(N_("The end date is before the start date."))
        if (end - start).days + 1 > MAX_CUSTOM_DAYS:
            raise InvalidInput(N_("A custom period may cover at most three years."))
    else:
        start, end = period_range(period, start or today)
    values: dict[str, str | None] = {}
    for name in CASE_FILTERS:
        value = (args.get(name) or "").strip()
        if len(value) > MAX_VALUE_LENGTH or "\x00" in value:
            raise InvalidInput(N_("A filter value is too long."))
        values[name] = value or None
    return ReportFilter(period=period, start=start, end=end, department=values["department"],
                        product_model=values["product_model"], feedback_type=values["feedback_type"],
                        category=values["category"], channel=values["channel"])
