"""The working-time calendar: Chinese working days, office hours, lateness, diagram helpers."""

from __future__ import annotations

import time as _time
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest

from app.engine import calendar as calmod
from app.engine.calendar import WorkingCalendar

SH = ZoneInfo("Asia/Shanghai")


def sh(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=SH)


def package_covers(year: int) -> bool:
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


# The first year after today's data that the package lacks (2027 with chinesecalendar 1.11.0).
UNCOVERED = next(y for y in range(2024, 2200) if not package_covers(y))


@pytest.fixture
def cal() -> WorkingCalendar:
    return WorkingCalendar()


@pytest.fixture
def restore_default():
    yield
    calmod.set_default_calendar(None)


# -- the package data these tests rely on -------------------------------------------------


def test_package_data_for_national_day_2025():
    for day in range(1, 9):
        assert not chinese_calendar.is_workday(date(2025, 10, day))
    assert chinese_calendar.is_workday(date(2025, 9, 28))  # Sunday, 调休
    assert chinese_calendar.is_workday(date(2025, 10, 11))  # Saturday, 调休
    assert date(2025, 9, 28).weekday() == 6
    assert date(2025, 10, 11).weekday() == 5
    assert chinese_calendar.is_workday(date(2025, 11, 24))  # an ordinary Monday


# -- working days --------------------------------------------------------------------------


def test_working_days_national_day_week(cal):
    assert cal.is_working_day(date(2025, 9, 26))  # Friday
    assert not cal.is_working_day(date(2025, 9, 27))  # Saturday
    assert cal.is_working_day(date(2025, 9, 28))  # Sunday made working day
    assert cal.is_working_day(date(2025, 9, 30))
    for day in range(1, 9):
        assert not cal.is_working_day(date(2025, 10, day)), day
    assert cal.is_working_day(date(2025, 10, 9))
    assert cal.is_working_day(date(2025, 10, 10))
    assert cal.is_working_day(date(2025, 10, 11))  # Saturday made working day
    assert not cal.is_working_day(date(2025, 10, 12))


def test_is_working_day_accepts_datetime(cal):
    assert cal.is_working_day(datetime(2025, 10, 11, 9, tzinfo=SH))
    assert not cal.is_working_day(datetime(2025, 10, 1, 9, tzinfo=SH))


def test_national_day_spanning_addition(cal):
    # Tue 30 Sep 10:00: 2 h + 4.5 h = 6.5 h that day; 1 to 8 Oct are off;
    # the remaining 1.5 h run from Thu 9 Oct 08:30 to 10:00.
    assert cal.add_working_days(sh(2025, 9, 30, 10), 1) == sh(2025, 10, 9, 10)
    # Working time Tue 30 Sep 10:00 -> Sat 11 Oct 10:00 = 6.5 + 8 + 8 + 1.5 (调休 Saturday).
    assert cal.working_hours_between(sh(2025, 9, 30, 10), sh(2025, 10, 11, 10)) == 24.0


def test_tiaoxiu_saturday_counts(cal):
    # Fri 10 Oct 13:00 + 8 h: 4.5 h Friday, then Saturday 11 Oct (调休) 08:30 + 3.5 h = 12:00.
    assert cal.add_working_hours(sh(2025, 10, 10, 13), 8) == sh(2025, 10, 11, 12)
    # Sun 28 Sep (调休) counts too: Sat 27 Sep 20:00 + 1 h -> Sun 28 Sep 09:30.
    assert cal.add_working_hours(sh(2025, 9, 27, 20), 1) == sh(2025, 9, 28, 9, 30)


# -- working hours -------------------------------------------------------------------------


def test_friday_afternoon_plus_half_a_working_day(cal):
    # Fri 21 Nov 2025 15:00 + 4 h: 2.5 h Friday (to 17:30), weekend off, then
    # Mon 24 Nov 08:30 + 1.5 h = 10:00.
    result = cal.add_working_days(sh(2025, 11, 21, 15), 0.5)
    assert result == sh(2025, 11, 24, 10)
    assert result.tzinfo is UTC
    assert result == datetime(2025, 11, 24, 2, tzinfo=UTC)
    assert cal.add_working_hours(sh(2025, 11, 21, 15), 4) == result


def test_result_is_utc(cal):
    result = cal.add_working_hours(sh(2025, 11, 24, 9), 1)
    assert result.tzinfo is UTC
    assert result.isoformat() == "2025-11-24T02:00:00+00:00"


def test_one_working_day_is_eight_hours(cal):
    assert cal.hours_per_day == 8.0
    start = sh(2025, 11, 24, 8, 30)
    assert cal.add_working_days(start, 1) == cal.add_working_hours(start, 8)
    assert cal.add_working_days(start, 1) == sh(2025, 11, 24, 17, 30)
    assert cal.add_working_days(sh(2025, 11, 24, 10), 1) == sh(2025, 11, 25, 10)
    assert cal.add_working_days(sh(2025, 11, 24, 10), 3) == sh(2025, 11, 27, 10)


def test_start_at_lunch(cal):
    # 12:15 is lunch: counting starts at 13:00.
    assert cal.add_working_hours(sh(2025, 11, 24, 12, 15), 1) == sh(2025, 11, 24, 14)


def test_end_of_morning_is_not_pushed_after_lunch(cal):
    assert cal.add_working_hours(sh(2025, 11, 24, 11), 1) == sh(2025, 11, 24, 12)
    assert cal.add_working_hours(sh(2025, 11, 24, 11), 1.5) == sh(2025, 11, 24, 13, 30)


def test_start_before_opening(cal):
    assert cal.add_working_hours(sh(2025, 11, 24, 6), 2) == sh(2025, 11, 24, 10, 30)


def test_start_after_closing(cal):
    # Mon 18:00 + 2 h -> Tue 10:30; Fri 18:00 + 2 h -> Mon 10:30.
    assert cal.add_working_hours(sh(2025, 11, 24, 18), 2) == sh(2025, 11, 25, 10, 30)
    assert cal.add_working_hours(sh(2025, 11, 21, 18), 2) == sh(2025, 11, 24, 10, 30)


def test_start_given_in_utc_on_previous_utc_day(cal):
    # 2025-11-24 00:30 UTC is Monday 08:30 in Shanghai.
    start = datetime(2025, 11, 23, 0, 30, tzinfo=UTC) + timedelta(days=1)
    assert cal.add_working_hours(start, 1) == sh(2025, 11, 24, 9, 30)
    # 23:00 UTC Sunday is Monday 07:00 in Shanghai.
    assert cal.add_working_hours(datetime(2025, 11, 23, 23, tzinfo=UTC), 1) == sh(
        2025, 11, 24, 9, 30
    )


def test_zero_hours_returns_start(cal):
    start = sh(2025, 11, 22, 10)  # a Saturday
    assert cal.add_working_hours(start, 0) == start


def test_working_hours_between(cal):
    assert cal.working_hours_between(sh(2025, 11, 24, 8, 30), sh(2025, 11, 24, 17, 30)) == 8.0
    assert cal.working_hours_between(sh(2025, 11, 24, 11), sh(2025, 11, 24, 14)) == 2.0
    # Fri 15:00 -> Mon 10:00 = 2.5 + 1.5.
    assert cal.working_hours_between(sh(2025, 11, 21, 15), sh(2025, 11, 24, 10)) == 4.0
    assert cal.working_hours_between(sh(2025, 11, 24, 10), sh(2025, 11, 21, 15)) == -4.0
    assert cal.working_hours_between(sh(2025, 11, 22, 9), sh(2025, 11, 23, 17)) == 0.0


def test_round_trip_between_and_add(cal):
    start = sh(2025, 9, 26, 16, 45)
    for hours in (0.25, 1, 3.5, 8, 12.75, 40, 100):
        end = cal.add_working_hours(start, hours)
        assert cal.working_hours_between(start, end) == pytest.approx(hours)


def test_custom_periods():
    cal = WorkingCalendar(periods=[(time(9), time(18))])
    assert cal.hours_per_day == 9.0
    assert cal.add_working_days(sh(2025, 11, 24, 9), 1) == sh(2025, 11, 24, 18)
    with pytest.raises(ValueError):
        WorkingCalendar(periods=[(time(13), time(12))])
    with pytest.raises(ValueError):
        WorkingCalendar(periods=[(time(8), time(12)), (time(11), time(17))])
    with pytest.raises(ValueError):
        WorkingCalendar(periods=[])


# -- lateness ------------------------------------------------------------------------------


def test_working_days_late(cal):
    due = sh(2025, 11, 21, 15)  # Friday
    assert cal.working_days_late(due, due) == 0
    assert cal.working_days_late(due, sh(2025, 11, 21, 14)) == 0  # early
    assert cal.working_days_late(due, sh(2025, 11, 21, 15, 1)) == 1
    # Weekend after Friday closing: no working time passed.
    assert cal.working_days_late(sh(2025, 11, 21, 17, 30), sh(2025, 11, 23, 12)) == 0
    # Fri 15:00 -> Mon 15:00 = 2.5 + 5.5 = 8 h = exactly one working day.
    assert cal.working_days_late(due, sh(2025, 11, 24, 15)) == 1
    assert cal.working_days_late(due, sh(2025, 11, 24, 15, 1)) == 2
    # Over National Day: due Tue 30 Sep 17:30, done Fri 10 Oct 09:00 = 8 h + 0.5 h.
    assert cal.working_days_late(sh(2025, 9, 30, 17, 30), sh(2025, 10, 10, 9)) == 2


def test_calendar_days_late(cal):
    due = sh(2025, 9, 30, 17, 30)
    assert cal.calendar_days_late(due, due) == 0
    assert cal.calendar_days_late(due, sh(2025, 9, 29)) == 0
    assert cal.calendar_days_late(due, sh(2025, 9, 30, 17, 31)) == 1
    assert cal.calendar_days_late(due, sh(2025, 10, 1, 17, 30)) == 1
    assert cal.calendar_days_late(due, sh(2025, 10, 10, 9)) == 10  # 9 days 15.5 h
    assert WorkingCalendar.calendar_days_late(due, due + timedelta(days=3)) == 3


def test_late_day_starts_working(cal):
    due = sh(2025, 11, 21, 15)  # Friday 15:00
    assert cal.late_day_starts(due, due) == []
    assert cal.late_day_starts(due, sh(2025, 11, 21, 15, 1)) == [due]
    # Fri 15:00-17:30 + Mon 08:30-12:00 + 13:00-15:00 = 8 h: day 2 begins Monday 15:00
    starts = cal.late_day_starts(due, sh(2025, 11, 25, 10))
    assert starts == [due, sh(2025, 11, 24, 15)]
    # a deadline at closing time: the first day late begins at the next opening
    assert cal.late_day_starts(sh(2025, 11, 21, 17, 30), sh(2025, 11, 24, 9)) == [sh(2025, 11, 24, 8, 30)]
    # a day that is reached exactly at 17:30 begins at the next opening (Mon 08:30 + 8 h = Mon 17:30)
    assert cal.late_day_starts(sh(2025, 11, 24, 8, 30), sh(2025, 11, 25, 8, 31)) == [
        sh(2025, 11, 24, 8, 30), sh(2025, 11, 25, 8, 30)]


def test_late_day_starts_count_every_day_once(cal):
    due = sh(2025, 9, 26, 11, 17)  # into National Day and the 调休 Saturday after it
    for hours in range(0, 24 * 30, 7):
        done = due + timedelta(hours=hours, minutes=13)
        for basis in ("working", "calendar"):
            starts = cal.late_day_starts(due, done, basis)
            assert len(starts) == cal.days_late(due, done, basis), (done, basis)
            assert starts == sorted(starts) and all(due <= s < done for s in starts)


def test_late_day_starts_calendar(cal):
    due = sh(2025, 9, 30, 17, 30)
    assert cal.late_day_starts(due, sh(2025, 10, 2, 17, 31), "calendar") == [
        due, sh(2025, 10, 1, 17, 30), sh(2025, 10, 2, 17, 30)]
    with pytest.raises(ValueError):
        cal.late_day_starts(due, sh(2025, 10, 2), "fortnights")


# -- uncovered years and overrides ---------------------------------------------------------


def test_uncovered_year_is_reported(cal):
    assert UNCOVERED >= 2027
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(date(UNCOVERED, 1, 1))
    assert cal.uncovered_years([2025, UNCOVERED, 2025, UNCOVERED + 3]) == [
        UNCOVERED,
        UNCOVERED + 3,
    ]
    assert cal.uncovered_years([2024, 2025]) == []
    assert cal.covers(date(2025, 1, 1))
    assert not cal.covers(date(UNCOVERED, 5, 1))


def test_2027_statutory_holidays_come_from_the_rules(cal):
    """chinesecalendar 1.11.0 ends with 2026; 2027's statutory days off come from the rules."""
    assert not cal.covers(date(2027, 1, 1))
    assert not cal.is_working_day(date(2027, 1, 1))  # 元旦, a Friday
    # 春节: 除夕 Fri 5 Feb, 初一 Sat 6 Feb (the lunar new year), 初二 and 初三; the two on the
    # weekend are given on Tue 9 and Wed 10 Feb (补假).
    for day in range(5, 11):
        assert not cal.is_working_day(date(2027, 2, day)), day
    assert cal.is_working_day(date(2027, 2, 4))
    assert cal.is_working_day(date(2027, 2, 11))
    assert not cal.is_working_day(date(2027, 4, 5))  # 清明, Monday
    for day in (1, 2, 3, 4):  # 劳动节 Sat 1 and Sun 2 May, given on Mon 3 and Tue 4 May
        assert not cal.is_working_day(date(2027, 5, day)), day
    assert not cal.is_working_day(date(2027, 6, 9))  # 端午 (5th day of the 5th lunar month)
    assert not cal.is_working_day(date(2027, 9, 15))  # 中秋 (15th day of the 8th lunar month)
    for day in range(1, 6):  # 国庆 1–3 October (Fri–Sun), the weekend days given on 4 and 5 October
        assert not cal.is_working_day(date(2027, 10, day)), day
    # The announced 调休 is not guessed: no bridge day off, no weekend working day.
    assert cal.is_working_day(date(2027, 10, 6))
    assert not cal.is_working_day(date(2027, 2, 20))  # a Saturday
    names = dict(calmod.statutory_holidays(2027, "zh"))
    assert names[date(2027, 2, 6)] == "春节" and names[date(2027, 2, 5)] == "农历除夕"
    assert names[date(2027, 6, 9)] == "端午节" and names[date(2027, 9, 15)] == "中秋节"
    assert names[date(2027, 4, 5)] == "清明节"


def test_the_rules_agree_with_the_announced_holidays():
    """Where both sources have data, every statutory day by rule (lunar festivals included) is a
    day off in chinesecalendar's announced schedule — the rules compute the right dates."""
    for year in range(2008, 2027):
        days = calmod.statutory_holidays(year)
        assert len(days) >= 8, year
        for day, name in days:
            assert not chinese_calendar.is_workday(day), (day, name)


def test_three_working_days_across_the_2027_spring_festival(cal):
    # Thursday 4 Feb 10:00 + 24 working hours: 6.5 h Thursday, 5–10 Feb off, 8 h Thu 11,
    # 8 h Fri 12, weekend, 1.5 h Monday 15 Feb (Monday–Friday alone gave Tuesday 9 Feb).
    assert cal.add_working_days(sh(2027, 2, 4, 10), 3) == sh(2027, 2, 15, 10)
    assert cal.end_of_working_day(date(2027, 2, 5)) == sh(2027, 2, 11, 17, 30)


def test_days_late_across_the_2027_spring_festival(cal):
    # Due Thursday 4 Feb at close of business, reported Thursday 11 Feb 10:00: 1.5 working
    # hours late, one started working day (7 started calendar days).
    due, done = sh(2027, 2, 4, 17, 30), sh(2027, 2, 11, 10)
    assert cal.working_days_late(due, done) == 1
    assert cal.days_late(due, done, "calendar") == 7


def test_years_without_rules_count_monday_to_friday(cal):
    assert calmod.statutory_holidays(1900) == [] and calmod.statutory_holidays(2200) == []
    assert cal.is_working_day(date(2200, 1, 1))  # a Wednesday
    assert not cal.is_working_day(date(2200, 1, 4))  # a Saturday


def test_depends_on_working_calendar():
    assert calmod.depends_on_working_calendar("add_working_days(now(), 3)")
    assert calmod.depends_on_working_calendar(
        "add_working_hours(now(), 2) if urgency == 'urgent' else add_working_days(now(), 1)")
    assert calmod.depends_on_working_calendar('end_of_working_day("2027-02-05")')
    assert not calmod.depends_on_working_calendar("round_due_at")
    assert not calmod.depends_on_working_calendar('"PT48H"')
    assert not calmod.depends_on_working_calendar("add_hours(now(), 48)")
    assert not calmod.depends_on_working_calendar("(")
    assert not calmod.depends_on_working_calendar(None)


def test_uncovered_year_overrides(cal):
    day = date(UNCOVERED, 10, 1)
    saturday = next(
        date(UNCOVERED, 10, d) for d in range(8, 15) if date(UNCOVERED, 10, d).weekday() == 5
    )
    cal.set_overrides({day: False, saturday: True})
    assert not cal.is_working_day(day)
    assert cal.is_working_day(saturday)
    assert cal.overrides == {day: False, saturday: True}
    # Still reported: the package has no data, the admin decides whether that is complete.
    assert cal.uncovered_years([UNCOVERED]) == [UNCOVERED]


def test_additions_in_uncovered_year_work(cal):
    # 1900 and 2200 are not covered either: no crash, weekends only.
    assert cal.uncovered_years([1900, 2200]) == [1900, 2200]
    monday = date(2200, 1, 6)
    assert monday.weekday() == 0
    start = datetime.combine(monday, time(16, 30), tzinfo=SH)
    assert cal.add_working_hours(start, 2) == datetime.combine(
        monday + timedelta(days=1), time(9, 30), tzinfo=SH
    )
    friday = date(1900, 1, 5)
    assert friday.weekday() == 4
    start = datetime.combine(friday, time(17), tzinfo=SH)
    assert cal.add_working_hours(start, 1) == datetime.combine(
        friday + timedelta(days=3), time(9), tzinfo=SH
    )
    end = datetime(2200, 12, 31, 17, tzinfo=SH)
    assert cal.add_working_days(end, 2) > end  # crosses into 2201


def test_overrides_win_over_package_and_weekends():
    cal = WorkingCalendar(overrides={date(2025, 10, 11): False, date(2025, 10, 3): True})
    assert not cal.is_working_day(date(2025, 10, 11))  # package says 调休 working day
    assert cal.is_working_day(date(2025, 10, 3))  # package says holiday
    cal.set_overrides({date(2025, 11, 22): True, date(2025, 11, 24): False})
    assert cal.is_working_day(date(2025, 10, 11))  # back to the package
    assert cal.is_working_day(date(2025, 11, 22))  # Saturday made working
    assert not cal.is_working_day(date(2025, 11, 24))  # Monday made off
    # Fri 21 Nov 17:00 + 1 h: 0.5 h Friday, Saturday 08:30 + 0.5 h.
    assert cal.add_working_hours(sh(2025, 11, 21, 17), 1) == sh(2025, 11, 22, 9)
    # Sat 22 Nov 17:00 + 1 h: 0.5 h Saturday, Monday off, Tuesday 08:30 + 0.5 h.
    assert cal.add_working_hours(sh(2025, 11, 22, 17), 1) == sh(2025, 11, 25, 9)


# -- bad input -----------------------------------------------------------------------------


def test_naive_datetime_rejected(cal):
    naive = datetime(2025, 11, 24, 9)
    with pytest.raises(ValueError):
        cal.add_working_hours(naive, 1)
    with pytest.raises(ValueError):
        cal.add_working_days(naive, 1)
    with pytest.raises(ValueError):
        cal.working_hours_between(naive, sh(2025, 11, 24, 10))
    with pytest.raises(ValueError):
        cal.working_days_late(sh(2025, 11, 24, 10), naive)
    with pytest.raises(ValueError):
        cal.calendar_days_late(naive, sh(2025, 11, 24, 10))


@pytest.mark.parametrize("hours", [10**9, 1e300, float("inf"), float("nan"), -1])
def test_absurd_hours_raise_quickly(cal, hours):
    began = _time.perf_counter()
    with pytest.raises(ValueError):
        cal.add_working_hours(sh(2025, 11, 24, 9), hours)
    assert _time.perf_counter() - began < 0.5


def test_absurd_days_and_spans_raise_quickly(cal):
    began = _time.perf_counter()
    with pytest.raises(ValueError):
        cal.add_working_days(sh(2025, 11, 24, 9), 10**9)
    with pytest.raises(ValueError):
        cal.working_hours_between(sh(1900, 1, 1), sh(2200, 1, 1))
    with pytest.raises(ValueError):
        cal.working_days_late(sh(1900, 1, 1), sh(2200, 1, 1))
    # Allowed by the hour cap but more working time than the span cap holds.
    with pytest.raises(ValueError):
        cal.add_working_hours(sh(2025, 11, 24, 9), calmod.MAX_SPAN_DAYS * 20)
    assert _time.perf_counter() - began < 2


def test_no_working_day_at_all_raises():
    cal = WorkingCalendar(max_span_days=30)
    cal.set_overrides({date(2025, 11, 24) + timedelta(days=i): False for i in range(40)})
    with pytest.raises(ValueError):
        cal.add_working_hours(sh(2025, 11, 24, 9), 1)


def test_out_of_range_dates_raise_value_error(cal):
    with pytest.raises(ValueError):
        cal.add_working_hours(datetime(9999, 12, 31, 9, tzinfo=UTC), 100)


# -- diagram helpers -----------------------------------------------------------------------


def test_module_functions_return_iso_utc(restore_default):
    assert calmod.add_working_hours("2025-11-21T15:00:00+08:00", 4) == "2025-11-24T02:00:00+00:00"
    assert calmod.add_working_days(sh(2025, 11, 21, 15), 0.5) == "2025-11-24T02:00:00+00:00"
    # A naive ISO string is read as UTC, like the other helpers: 07:00 UTC = 15:00 Shanghai.
    assert calmod.add_working_hours("2025-11-21T07:00:00", 4) == "2025-11-24T02:00:00+00:00"


def test_set_default_calendar(restore_default):
    custom = WorkingCalendar(overrides={date(2025, 11, 24): False})
    calmod.set_default_calendar(custom)
    assert calmod.default_calendar() is custom
    assert calmod.add_working_hours("2025-11-21T07:00:00+00:00", 4) == "2025-11-25T02:00:00+00:00"
    calmod.set_default_calendar(None)
    assert calmod.default_calendar() is not custom
    assert calmod.add_working_hours("2025-11-21T07:00:00+00:00", 4) == "2025-11-24T02:00:00+00:00"


def test_helpers_registered_and_evaluate_in_sandbox(restore_default):
    from app.engine.helpers import helpers
    from app.engine.sandbox import SandboxEnvironment

    registered = helpers()
    assert registered["add_working_hours"] is calmod.add_working_hours
    assert registered["add_working_days"] is calmod.add_working_days
    env = SandboxEnvironment(registered)
    assert (
        env.evaluate("add_working_hours('2025-11-21T07:00:00+00:00', 4)", {})
        == "2025-11-24T02:00:00+00:00"
    )
    assert (
        env.evaluate("add_working_days(received, 3)", {"received": "2025-09-30T02:00:00+00:00"})
        # Tue 30 Sep 10:00 Shanghai + 24 h: 6.5 h, then 9 Oct 8 h, 10 Oct 8 h, 11 Oct (调休)
        # 08:30 + 1.5 h = 10:00 Shanghai = 02:00 UTC.
        == "2025-10-11T02:00:00+00:00"
    )


def test_latest_compares_instants_not_text():
    from app.engine.helpers import latest

    # 09:30 UTC is later than 17:00 in Shanghai (09:00 UTC), whatever the text says
    assert latest("2026-03-12T17:00:00+08:00", "2026-03-12T09:30:00+00:00") == "2026-03-12T09:30:00+00:00"
    assert latest("2026-03-12T09:30:00.5+00:00", "2026-03-12T09:30:00+00:00") == "2026-03-12T09:30:00.500000+00:00"
    with pytest.raises(ValueError):
        latest()
