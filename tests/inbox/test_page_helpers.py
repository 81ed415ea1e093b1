"""The inbox page's shared helpers give what the one-off helpers give: the Ruler's working
hours equal the calendar's, and a page-bound Formatter writes what the template globals write."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest
from babel import dates, numbers
from flask_babel import force_locale

from app.engine.calendar import WorkingCalendar
from app.services import customer_clock
from app.services.working_ruler import Ruler
from app.web.shared import display

NOW = datetime(2026, 11, 30, 6, 17, 23, 456789, tzinfo=UTC)  # a Monday, 14:17 in Shanghai


def instants(count: int) -> list[datetime]:
    """Instants from 60 days before NOW to 30 after, at odd minutes and microseconds, with repeats,
    NOW itself and values on a period's edges."""
    rng = random.Random(16)
    found = [NOW + timedelta(seconds=rng.randint(-60 * 86400, 30 * 86400), microseconds=rng.randint(0, 999999))
             for _ in range(count)]
    return found + found[:5] + [NOW, datetime(2026, 12, 1, 4, 0, tzinfo=UTC), datetime(2026, 10, 1, tzinfo=UTC)]


def test_ruler_gives_the_calendars_working_hours() -> None:
    cal = WorkingCalendar()
    ruler = Ruler(cal, NOW)
    points = instants(120)
    for due in points:  # a page: now against each row's due time, both ways
        assert ruler.working_hours_between(NOW, due) == cal.working_hours_between(NOW, due)
        assert ruler.working_hours_between(due, NOW) == cal.working_hours_between(due, NOW)
    for a, b in zip(points, reversed(points), strict=True):  # any two instants once measured
        assert ruler.working_hours_between(a, b) == cal.working_hours_between(a, b)
    assert ruler.hours_per_day == cal.hours_per_day
    assert ruler.add_working_hours(NOW, 5) == cal.add_working_hours(NOW, 5)


def test_ruler_refuses_what_the_calendar_refuses() -> None:
    cal = WorkingCalendar(max_span_days=10)
    ruler = Ruler(cal, NOW)
    with pytest.raises(ValueError):
        ruler.working_hours_between(NOW, NOW + timedelta(days=11))
    with pytest.raises(ValueError):
        ruler.working_hours_between(NOW, datetime(2026, 12, 1))  # naive
    with pytest.raises(ValueError):
        Ruler(cal, datetime(2026, 12, 1))


def test_page_formatter_writes_what_the_template_helpers_write(app) -> None:
    """fmt_dt's strftime path against Babel, and every badge against the module's helpers
    (which make a Formatter per call) in both languages."""
    tasks = [SimpleNamespace(state="open", due_at=due, title="核实", title_en="Verify", context={})
             for due in instants(40)]
    clocks = [customer_clock.ClockView(state, name, NOW, hours) for state in customer_clock.STATES
              for name in ("first_answer", "resolution", None) for hours in (None, -30.5, -0.2, 0.4, 5.25, 41.0)]
    with app.test_request_context("/"):
        for language in ("zh", "en"):
            with force_locale(language):
                page = display.Formatter(NOW)
                for value in [*instants(30), datetime(2026, 3, 8, 18, 30), date(2026, 5, 1), None, "", "x"]:
                    assert page.fmt_dt(value) == display.fmt_dt(value)
                    if isinstance(value, datetime):  # the fast path is Babel's pattern
                        assert page.fmt_dt(value) == dates.format_datetime(
                            value, display.DATETIME_PATTERN, tzinfo=page.timezone, locale=page.babel_locale)
                for task in tasks:
                    assert page.time_left_badge(task) == _at(NOW, display.time_left_badge, task)
                    assert page.is_overdue(task) == _at(NOW, display.is_overdue, task)
                for view in clocks:
                    assert page.clock_badge(view) == display.clock_badge(view)
                    assert page.clock_badge(view, with_left=False) == display.clock_badge(view, False)
                for urgency in (None, "", "urgent", "important", "general", "unknown"):
                    assert page.urgency_badge(urgency) == display.urgency_badge(urgency)
    assert any("Overdue by" in str(page.time_left_badge(t)) for t in tasks)


def _at(instant: datetime, helper, *args):  # noqa: ANN001, ANN202
    from app.clock import clock

    clock.set(instant)
    try:
        return helper(*args)
    finally:
        clock.reset()


def test_page_decimals_are_babels(app) -> None:
    """The Formatter writes working hours and days with Python's format where Babel would write the
    same: every one-decimal value a badge shows, in both languages and both patterns."""
    rng = random.Random(13)
    values = [0, 0.0, 0.1, 0.5, 1.0, 2.3, 9.9, 10.0, 99.5, 100, 999.9, 1000.0, 1234.5, 12345.6, 999999.9, 1e6 + 0.1,
              123456789.1, *(round(rng.uniform(0, 5000), 1) for _ in range(300)),
              *(round(rng.uniform(0, 2), 2) for _ in range(20)), 1e13, -2.5]  # these last go to Babel
    with app.test_request_context("/"):
        for language in ("zh", "en"):
            with force_locale(language):
                page = display.Formatter(NOW)
                for value in values:
                    for pattern in (None, "#,##0.#"):
                        assert page.decimal(value, pattern) == numbers.format_decimal(
                            value, format=pattern, locale=page.babel_locale), (language, value, pattern)


def test_badges_escape_what_they_show(app) -> None:
    view = customer_clock.ClockView('<b>"x"</b>', "first_answer", NOW, None)
    with app.test_request_context("/"):
        page = display.Formatter(NOW)
        badge = page.clock_badge(view)
        assert "<b>" not in badge and "&lt;b&gt;&#34;x&#34;&lt;/b&gt;" in badge
        assert page.urgency_badge("<i>") == ('<span class="badge text-bg-light" data-testid="urgency">'
                                             '&lt;i&gt;</span>')
