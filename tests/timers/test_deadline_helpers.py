"""Calendar deadline helpers for diagrams: end_of_working_day, days_late, and the lateness
basis the ESCALATION_LATENESS_DAYS setting hands to diagram scripts."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest

from app.data.models import InstanceStatus
from app.engine import calendar as calmod
from app.engine.calendar import WorkingCalendar, days_late, days_late_helper, end_of_working_day
from app.engine.definitions.deploy import deploy
from app.engine.runtime import WorkflowRuntime

SH = ZoneInfo("Asia/Shanghai")

# Friday 6 March 2026 17:30 Shanghai (close of business) and Monday 9 March 09:30 Shanghai:
# one working hour later (Monday 08:30–09:30), but 2 days 16 hours of calendar time.
FRIDAY_CLOSE = "2026-03-06T09:30:00+00:00"
MONDAY_0930 = "2026-03-09T01:30:00+00:00"


def close(y: int, m: int, d: int) -> str:
    """17:30 Shanghai of that day as the helpers return it (UTC ISO)."""
    return datetime(y, m, d, 17, 30, tzinfo=SH).astimezone(UTC).isoformat()


# -- end_of_working_day --------------------------------------------------------------------


def test_weekday_ends_at_1730_shanghai():
    assert close(2026, 3, 4) == "2026-03-04T09:30:00+00:00"
    assert end_of_working_day(date(2026, 3, 4)) == close(2026, 3, 4)  # Wednesday
    assert end_of_working_day("2026-03-04") == close(2026, 3, 4)
    assert end_of_working_day("2026-03-04T10:00:00+08:00") == close(2026, 3, 4)


def test_weekend_moves_to_monday():
    assert end_of_working_day("2026-03-07") == close(2026, 3, 9)  # Saturday
    assert end_of_working_day("2026-03-08") == close(2026, 3, 9)  # Sunday


def test_national_day_2026_moves_past_the_holiday():
    # the package data this relies on: 1–7 Oct off, Sat 10 Oct a 调休 working day, Sun 11 Oct off
    assert [chinese_calendar.is_workday(date(2026, 10, d)) for d in range(1, 13)] == (
        [False] * 7 + [True, True, True, False, True]
    )
    assert date(2026, 10, 10).weekday() == 5
    assert end_of_working_day("2026-09-30") == close(2026, 9, 30)
    for day in ("2026-10-01", "2026-10-03", "2026-10-07"):
        assert end_of_working_day(day) == close(2026, 10, 8), day
    assert end_of_working_day("2026-10-10") == close(2026, 10, 10)  # Saturday, but a working day
    assert end_of_working_day("2026-10-11") == close(2026, 10, 12)


def test_override_day_off_moves_to_next_day():
    cal = WorkingCalendar(overrides={date(2026, 3, 4): False, date(2026, 3, 7): True})
    assert cal.end_of_working_day(date(2026, 3, 4)).isoformat() == close(2026, 3, 5)
    assert cal.end_of_working_day(date(2026, 3, 7)).isoformat() == close(2026, 3, 7)  # Saturday worked
    calmod.set_default_calendar(cal)  # the diagram helper follows the default calendar
    assert end_of_working_day("2026-03-04") == close(2026, 3, 5)


def test_uncovered_year_still_skips_weekends():
    assert WorkingCalendar().uncovered_years([2031]) == [2031]
    assert date(2031, 1, 4).weekday() == 5
    assert end_of_working_day("2031-01-04") == close(2031, 1, 6)
    assert end_of_working_day("2031-01-07") == close(2031, 1, 7)


def test_an_instant_counts_on_its_day_in_shanghai():
    # Friday 20:00 UTC is Saturday 04:00 in Shanghai: the deadline is Monday's close, not Friday's
    assert end_of_working_day("2026-03-06T20:00:00+00:00") == close(2026, 3, 9)
    assert end_of_working_day(datetime(2026, 3, 6, 20, 0, tzinfo=UTC)) == close(2026, 3, 9)
    assert end_of_working_day("2026-03-06T20:00:00") == close(2026, 3, 9)  # naive text is UTC
    assert WorkingCalendar().end_of_working_day(datetime(2026, 3, 6, 20, 0, tzinfo=UTC)).isoformat() == close(
        2026, 3, 9)


@pytest.mark.parametrize("text", ["", "soon", "2026-02-30", "04/03/2026", "2026-03-04xyz"])
def test_bad_text_raises_value_error(text):
    with pytest.raises(ValueError, match="not a date"):
        end_of_working_day(text)


# -- days_late -------------------------------------------------------------------------------


def test_days_late_counts_started_working_days_by_default():
    assert days_late(FRIDAY_CLOSE, MONDAY_0930) == 1
    assert days_late(FRIDAY_CLOSE, MONDAY_0930, "working") == 1
    # a holiday week in between costs nothing: 30 Sep close → 8 Oct 08:31 is one working minute
    assert days_late(close(2026, 9, 30), "2026-10-08T00:31:00+00:00") == 1


def test_days_late_in_calendar_days():
    assert days_late(FRIDAY_CLOSE, MONDAY_0930, "calendar") == 3
    assert days_late(close(2026, 9, 30), "2026-10-08T00:31:00+00:00", "calendar") == 8


@pytest.mark.parametrize("basis", ["working", "calendar"])
def test_on_time_is_zero(basis):
    assert days_late(FRIDAY_CLOSE, FRIDAY_CLOSE, basis) == 0
    assert days_late(FRIDAY_CLOSE, "2026-03-06T01:00:00+00:00", basis) == 0  # early


def test_invalid_basis_is_refused():
    with pytest.raises(ValueError, match="lateness basis"):
        days_late(FRIDAY_CLOSE, MONDAY_0930, "hours")
    with pytest.raises(ValueError, match="lateness basis"):
        days_late_helper("bogus")


# -- the setting reaches diagram scripts -------------------------------------------------------

LATE_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="Defs_late"
    targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="late" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:scriptTask id="count"><bpmn:script>n = days_late(due, done)</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="end" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="count" />
    <bpmn:sequenceFlow id="f2" sourceRef="count" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>"""


def _run_late(database, runtime: WorkflowRuntime) -> int:
    with database.transaction() as session:
        deploy(session, {"late.bpmn": LATE_BPMN}, {})
        started = runtime.start(session, "late", {"due": FRIDAY_CLOSE, "done": MONDAY_0930})
        assert started.status == InstanceStatus.COMPLETED, started.incident_message
        return runtime.instance_data(session, started.id)["n"]


def test_diagram_days_late_follows_the_runtime_basis(database):
    assert _run_late(database, WorkflowRuntime()) == 1
    assert _run_late(database, WorkflowRuntime(extra_helpers={"days_late": days_late_helper("calendar")})) == 3


@pytest.mark.parametrize(("setting", "expected"), [("working", 1), ("calendar", 3)])
def test_app_setting_picks_the_basis(database, setting, expected):
    from app import create_app
    from config import TestConfig

    class Cfg(TestConfig):
        DATABASE_URL = database.url
        ESCALATION_LATENESS_DAYS = setting

    flask_app = create_app(Cfg)
    try:
        engine = flask_app.extensions["runtime"].script_engine()
        assert engine.environment.evaluate("days_late(a, b)", {"a": FRIDAY_CLOSE, "b": MONDAY_0930}) == expected
    finally:
        flask_app.extensions["database"].dispose()
