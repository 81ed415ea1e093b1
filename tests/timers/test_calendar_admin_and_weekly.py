"""Calendar overrides from the admin page change working-time results; the uncovered-year
warning; the weekly assessment trigger and its idempotent start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.clock import clock
from app.data.models import ProcessInstance
from app.engine.calendar import add_working_hours, default_calendar, set_default_calendar
from app.engine.context import Actor
from app.engine.definitions.deploy import deploy
from app.engine.errors import DefinitionError
from app.scheduler import weekly_trigger
from app.services.cases import open_case
from app.services.setup import deploy_folder, known_department_names
from app.services.weekly import start_weekly_assessment
from tests.conftest import ROOT, csrf_token, login

THURSDAY_2027 = "2027-09-30T16:30:00+08:00"  # the holiday package does not know 2027


def test_overrides_change_working_hours_and_the_warning(app, client):
    clock.set(datetime(2026, 11, 20, 2, 0, tzinfo=UTC))
    login(client, "admin")
    page = client.get("/admin/calendar/").get_data(as_text=True)
    assert 'data-testid="calendar-warning"' in page and "2027" in page
    # 4 working hours from Thursday 16:30: 1 h on Thursday + 3 h on Friday 1 October 2027.
    assert add_working_hours(THURSDAY_2027, 4) == "2027-10-01T03:30:00+00:00"

    token = csrf_token(client, "/admin/calendar/")
    response = client.post("/admin/calendar/", data={"csrf_token": token, "day": "2027-10-01", "working": "0",
                                                     "note": "国庆节"})
    assert response.status_code == 302
    assert add_working_hours(THURSDAY_2027, 4) == "2027-10-04T03:30:00+00:00"  # Friday off: Monday 11:30
    page = client.get("/admin/calendar/").get_data(as_text=True)
    assert 'data-day="2027-10-01"' in page and "国庆节" in page
    assert 'data-testid="calendar-warning"' not in page  # 2027 has entries now

    # Another process (fresh calendar, fresh version state) loads the overrides from the database.
    set_default_calendar(None)
    app.extensions.pop("calendar_state", None)
    client.get("/inbox/")
    assert default_calendar().is_working_day(datetime(2027, 10, 1).date()) is False

    # A 调休 Saturday made a working day counts like any other.
    client.post("/admin/calendar/", data={"csrf_token": token, "day": "2027-10-09", "working": "1"})
    assert add_working_hours("2027-10-08T17:00:00+08:00", 1) == "2027-10-09T01:00:00+00:00"

    token = csrf_token(client, "/admin/calendar/")
    client.post("/admin/calendar/2027-10-01/delete", data={"csrf_token": token})
    client.post("/admin/calendar/2027-10-09/delete", data={"csrf_token": token})
    assert add_working_hours(THURSDAY_2027, 4) == "2027-10-01T03:30:00+00:00"
    assert 'data-testid="calendar-warning"' in client.get("/admin/calendar/").get_data(as_text=True)


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

CLOSING_CASE = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="Defs_close" targetNamespace="x">
  <bpmn:process id="feedback_case" name="closes at once" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:scriptTask id="close" name="close"><bpmn:script>case_status = "closed"
lateness = [
    {"department": "production", "late_measure_days": 2, "late_execution_days": 1, "rounds": 1},
    {"department": "purchasing", "late_measure_days": 0, "late_execution_days": 0, "rounds": 1},
]</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="end" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="close" />
    <bpmn:sequenceFlow id="f2" sourceRef="close" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>"""


def test_weekly_assessment_started_once_per_week_with_rows(app):
    database = app.extensions["database"]
    runtime = app.extensions["runtime"]
    with database.transaction() as session:
        sources = {"weekly_assessment.bpmn": WEEKLY, "closing.bpmn": CLOSING_CASE}
        deploy(session, sources, {}, known_departments=known_department_names(session))
    clock.set(datetime(2026, 3, 4, 6, 0, tzinfo=UTC))  # Wednesday of the week before
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
    assert data["rows"] == [
        {"case_no": number, "department": "production", "late_measure_days": 2, "late_execution_days": 1},
        {"case_no": number, "department": "purchasing", "late_measure_days": 0, "late_execution_days": 0},
    ]
