"""Calendar overrides from the admin page change working-time results; the uncovered-year
warning; the weekly assessment trigger and its idempotent start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.clock import clock
from app.data.models import CalendarYearConfirmation, ProcessInstance, User
from app.engine.calendar import add_working_hours, default_calendar, set_default_calendar
from app.engine.context import Actor
from app.engine.definitions.deploy import deploy
from app.engine.errors import DefinitionError
from app.scheduler import weekly_trigger
from app.services.cases import open_case
from app.services.setup import deploy_folder, known_department_names
from app.services.weekly import start_weekly_assessment
from tests.conftest import ROOT, csrf_token, login

THURSDAY_2027 = "2027-11-11T16:30:00+08:00"  # an ordinary week of 2027 (the package has no 2027 data)


def test_overrides_change_working_hours(app, client):
    clock.set(datetime(2026, 11, 20, 2, 0, tzinfo=UTC))
    login(client, "admin")
    # 4 working hours from Thursday 16:30: 1 h on Thursday + 3 h on Friday 12 November 2027.
    assert add_working_hours(THURSDAY_2027, 4) == "2027-11-12T03:30:00+00:00"

    token = csrf_token(client, "/admin/calendar/")
    response = client.post("/admin/calendar/", data={"csrf_token": token, "day": "2027-11-12", "working": "0",
                                                     "note": "厂休"})
    assert response.status_code == 302
    assert add_working_hours(THURSDAY_2027, 4) == "2027-11-15T03:30:00+00:00"  # Friday off: Monday 11:30
    page = client.get("/admin/calendar/").get_data(as_text=True)
    assert 'data-day="2027-11-12"' in page and "厂休" in page

    # Another process (fresh calendar, fresh version state) loads the overrides from the database.
    set_default_calendar(None)
    app.extensions.pop("calendar_state", None)
    client.get("/inbox/")
    assert default_calendar().is_working_day(datetime(2027, 11, 12).date()) is False

    # A 调休 Saturday made a working day counts like any other.
    client.post("/admin/calendar/", data={"csrf_token": token, "day": "2027-11-13", "working": "1"})
    assert add_working_hours("2027-11-11T17:00:00+08:00", 1) == "2027-11-13T01:00:00+00:00"

    token = csrf_token(client, "/admin/calendar/")
    client.post("/admin/calendar/2027-11-12/delete", data={"csrf_token": token})
    client.post("/admin/calendar/2027-11-13/delete", data={"csrf_token": token})
    assert add_working_hours(THURSDAY_2027, 4) == "2027-11-12T03:30:00+00:00"


def warning_years(client, path: str = "/inbox/") -> str | None:
    page = client.get(path).get_data(as_text=True)
    if 'data-testid="calendar-warning"' not in page:
        return None
    banner = page.split('data-testid="calendar-warning"', 1)[1].split("</div>", 1)[0]
    return ",".join(y for y in ("2026", "2027", "2028") if y in banner)


def test_warning_for_2027_until_its_adjusted_working_days_are_confirmed(app, client):
    clock.set(datetime(2026, 11, 29, 2, 0, tzinfo=UTC))
    login(client, "admin")
    # 2026 is in the package; 2027 is not, and nobody confirmed it: warned on every page.
    assert warning_years(client) == "2027"
    assert warning_years(client, "/admin/calendar/") == "2027"
    page = client.get("/admin/calendar/").get_data(as_text=True)
    assert 'data-year="2027" data-covered="false" data-confirmed="false"' in page
    assert "2027-02-06 春节" in page and "2027-02-10 春节（补假）" in page  # the statutory days by rule

    # One stray entry is not 2027's schedule: still warned.
    token = csrf_token(client, "/admin/calendar/")
    client.post("/admin/calendar/", data={"csrf_token": token, "day": "2027-02-11", "working": "0", "note": "春节"})
    assert warning_years(client) == "2027"

    # The admin confirms the year: the warning goes, who and when are recorded.
    response = client.post("/admin/calendar/years/2027/confirm", data={"csrf_token": token})
    assert response.status_code == 302
    assert warning_years(client) is None
    with app.extensions["database"].session() as session:
        admin = session.scalars(select(User).where(User.username == "admin")).one()
        row = session.get(CalendarYearConfirmation, 2027)
        assert row.confirmed_at == datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
        assert row.confirmed_by_id == admin.id
        admin_name = admin.display_name or admin.username
    page = client.get("/admin/calendar/").get_data(as_text=True)
    assert 'data-year="2027" data-covered="false" data-confirmed="true"' in page
    confirmation = page.split('data-testid="calendar-confirmation"', 1)[1].split("</p>", 1)[0]
    assert admin_name in confirmation and "2026-11-29" in confirmation

    # A year the package covers needs no confirmation.
    response = client.post("/admin/calendar/years/2026/confirm", data={"csrf_token": token}, follow_redirects=True)
    assert "alert-danger" in response.get_data(as_text=True)

    # Withdrawn, the warning is back.
    client.post("/admin/calendar/years/2027/withdraw", data={"csrf_token": token})
    assert warning_years(client) == "2027"
    client.post("/admin/calendar/years/2027/confirm", data={"csrf_token": token})

    # In 2027 the current year is confirmed and the next one is warned about.
    clock.set(datetime(2027, 3, 1, 2, 0, tzinfo=UTC))
    assert warning_years(client) == "2028"
    # Had nobody confirmed 2027, both years would show.
    client.post("/admin/calendar/years/2027/withdraw", data={"csrf_token": token})
    assert warning_years(client) == "2027,2028"


def test_calendar_page_is_for_admins_only(app, client):
    login(client, "marketing")
    assert client.get("/admin/calendar/").status_code == 403
    assert 'data-testid="calendar-warning"' not in client.get("/inbox/").get_data(as_text=True)


def test_weekly_start_comes_from_the_diagram_monday_0900_shanghai(app):
    with app.extensions["database"].transaction() as session:
        deploy_folder(session, ROOT / "bpmn", ROOT / "forms")
    with app.app_context():
        trigger = weekly_trigger(app)
    wednesday = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
    assert trigger.get_next_fire_time(None, wednesday) == datetime(2026, 3, 9, 1, 0, tzinfo=UTC)
    monday_0830_shanghai = datetime(2026, 3, 9, 0, 30, tzinfo=UTC)
    assert trigger.get_next_fire_time(None, monday_0830_shanghai) == datetime(2026, 3, 9, 1, 0, tzinfo=UTC)
    # Sunday 20:00 UTC is already Monday 04:00 in Shanghai: the same Monday 09:00.
    assert trigger.get_next_fire_time(None, datetime(2026, 3, 8, 20, 0, tzinfo=UTC)) == datetime(
        2026, 3, 9, 1, 0, tzinfo=UTC)


def test_changing_the_start_schedule_is_a_diagram_change(app):
    from apscheduler.schedulers.background import BackgroundScheduler

    from app.scheduler.runner import refresh_schedules

    database = app.extensions["database"]
    tuesday = WEEKLY.replace('<bpmn:startEvent id="start" />', (
        '<bpmn:startEvent id="start"><bpmn:extensionElements><spiffworkflow:properties>'
        '<spiffworkflow:property name="startSchedule" value="R/2026-01-06T14:30:00+08:00/P7D" />'
        '</spiffworkflow:properties></bpmn:extensionElements></bpmn:startEvent>'))
    with database.transaction() as session:
        deploy(session, {"weekly_assessment.bpmn": tuesday}, {}, known_departments=known_department_names(session))
    scheduler = BackgroundScheduler(timezone="UTC")  # not started: jobs are only registered
    with app.app_context():
        refresh_schedules(app, scheduler)
    job = scheduler.get_job("start:weekly_assessment")
    assert job.trigger.get_next_fire_time(None, datetime(2026, 3, 4, 12, 0, tzinfo=UTC)) == datetime(
        2026, 3, 10, 6, 30, tzinfo=UTC)  # Tuesday 14:30 Shanghai
    broken = tuesday.replace("R/2026-01-06T14:30:00+08:00/P7D", "every monday")
    with database.transaction() as session, pytest.raises(DefinitionError) as info:
        deploy(session, {"weekly_assessment.bpmn": broken}, {}, known_departments=known_department_names(session))
    assert [p.element_id for p in info.value.problems] == ["start"]
    assert "startSchedule" in info.value.problems[0].text()


#: A stand-in for the production diagram: the test is about how it is started, not its steps.
WEEKLY = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="Defs_weekly" targetNamespace="x">
  <bpmn:process id="weekly_assessment" name="weekly" isExecutable="true">
    <bpmn:laneSet id="ls">
      <bpmn:lane id="lq" name="quality"><bpmn:flowNodeRef>review</bpmn:flowNodeRef></bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start" />
    <bpmn:userTask id="review" name="审核"><bpmn:extensionElements><spiffworkflow:properties>
      <spiffworkflow:property name="formKey" value="note" /></spiffworkflow:properties></bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:endEvent id="end" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review" />
    <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>"""

#: A case whose production task is charged for lateness (the 8D report's property, in working days).
CHARGED_CASE = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="Defs_case" targetNamespace="x">
  <bpmn:process id="feedback_case" name="one charged task" isExecutable="true">
    <bpmn:laneSet id="ls">
      <bpmn:lane id="lp" name="production"><bpmn:flowNodeRef>report</bpmn:flowNodeRef></bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start" />
    <bpmn:userTask id="report" name="8D"><bpmn:extensionElements><spiffworkflow:properties>
      <spiffworkflow:property name="formKey" value="note" />
      <spiffworkflow:property name="dueAt" value="PT48H" />
      <spiffworkflow:property name="latenessCharge" value="measures" />
    </spiffworkflow:properties></bpmn:extensionElements></bpmn:userTask>
    <bpmn:endEvent id="end" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="report" />
    <bpmn:sequenceFlow id="f2" sourceRef="report" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>"""


def test_weekly_assessment_started_once_per_week_with_rows(app):
    database = app.extensions["database"]
    runtime = app.extensions["runtime"]
    with database.transaction() as session:
        sources = {"weekly_assessment.bpmn": WEEKLY, "charged.bpmn": CHARGED_CASE}
        deploy(session, sources, {}, known_departments=known_department_names(session))
    clock.set(datetime(2026, 3, 4, 6, 0, tzinfo=UTC))  # Wednesday 14:00 of the week before
    with database.transaction() as session:
        case = open_case(session, runtime, {"customer_name": "客户甲", "description": "d"}, Actor(None, "t"))
        number = case.number
    monday = datetime(2026, 3, 9, 1, 0, tzinfo=UTC)
    clock.set(monday)
    with database.transaction() as session:
        first = start_weekly_assessment(session, runtime, monday)
        assert first is not None and first.business_key == "assessment:2026-W10"
    clock.set(monday + timedelta(days=2))
    with database.transaction() as session:
        assert start_weekly_assessment(session, runtime, clock.now()) is None
    with database.session() as session:
        instances = session.scalars(
            select(ProcessInstance).where(ProcessInstance.process_key == "weekly_assessment")).all()
        assert len(instances) == 1
        data = runtime.instance_data(session, instances[0].id)
    assert (data["week_start"], data["week_end"]) == ("2026-03-02", "2026-03-08")
    # due Friday 14:00, still open: Friday 14:00-17:30 is the one working day begun in the week
    assert data["rows"] == [
        {"case_no": number, "department": "production", "late_measure_days": 1, "late_execution_days": 0}]
    [charge] = data["lateness"]
    assert (charge["case_no"], charge["charge"], charge["basis"], charge["days"], charge["state"]) == (
        number, "measures", "working", ["2026-03-06"], "open")
    assert data["logistics_basis"] == "total_cost"  # the default while the admin has not chosen
