"""An admin's calendar change moves the pending deadlines computed with the calendar: the
open task's due time (and its escalation), its reminder timer and the scheduler job, shown on
the case timeline."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from app.clock import clock
from app.data.models import Case, HumanTask, ProcessInstance, TaskEscalation, TaskState
from app.data.models.notifications import EscalationLevel
from app.engine.definitions.deploy import deploy
from app.services.escalation import run_ladder, settings_from_config
from app.services.setup import known_department_names
from tests.conftest import csrf_token, login
from tests.engine import chain, definitions, forms, process, user_task

SH = ZoneInfo("Asia/Shanghai")

#: Answer within 3 working days; a reminder (non-interrupting) after 2 working days.
ANSWER = definitions(process(
    "answer_deadline",
    '<bpmn:startEvent id="start" />'
    + user_task("answer", "答复客户", formKey="note", department="quality", nameEn="Answer the customer",
                dueAt="=add_working_days(now(), 3)")
    + '<bpmn:boundaryEvent id="remind" name="催办" cancelActivity="false" attachedToRef="answer">'
      '<bpmn:timerEventDefinition id="remind_def">'
      '<bpmn:timeDate xsi:type="bpmn:tFormalExpression">add_working_days(now(), 2)</bpmn:timeDate>'
      "</bpmn:timerEventDefinition></bpmn:boundaryEvent>"
    + '<bpmn:scriptTask id="note_reminder"><bpmn:script>reminded = True</bpmn:script></bpmn:scriptTask>'
    + '<bpmn:endEvent id="end_reminder" /><bpmn:endEvent id="end" />'
    + chain("start", "answer", "end") + chain("remind", "note_reminder", "end_reminder", prefix="r"),
))


def sh(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2027, 2, day, hour, minute, tzinfo=SH)


def start_case(app) -> tuple[int, str]:
    database, runtime = app.extensions["database"], app.extensions["runtime"]
    with database.transaction() as session:
        deploy(session, {"answer_deadline.bpmn": ANSWER}, forms(), known_departments=known_department_names(session))
        case = Case(number="FB-2027-00001", feedback_type="complaint", customer_name="华东客户",
                    public_token="calendar-recompute-token")
        session.add(case)
        session.flush()
        instance = runtime.start(session, "answer_deadline", case_id=case.id)
        task_id = session.scalars(select(HumanTask.id).where(HumanTask.instance_id == instance.id)).one()
        return case.id, task_id


def test_a_calendar_change_moves_an_open_tasks_deadline_and_the_case_shows_it(app, client):
    clock.set(sh(4, 10))  # Thursday, the day before the 2027 Spring Festival
    case_id, task_id = start_case(app)
    database = app.extensions["database"]
    with database.session() as session:
        task = session.get(HumanTask, task_id)
        instance = session.get(ProcessInstance, task.instance_id)
        # 3 working days past the festival (5–10 Feb): Monday 15 Feb 10:00; reminder Friday 12 Feb.
        assert task.due_at == sh(15, 10)
        assert instance.next_due_at == sh(12, 10)

    # Monday 15 Feb 11:00: the task is overdue, the ladder escalated it to the head.
    clock.set(sh(15, 11))
    with database.transaction() as session:
        assert (task_id, EscalationLevel.HEAD) in run_ladder(session, clock.now(), settings_from_config(app.config))

    # The admin enters the announced schedule: Thursday 11 and Friday 12 February were days off.
    login(client, "admin")
    token = csrf_token(client, "/admin/calendar/")
    client.post("/admin/calendar/", data={"csrf_token": token, "day": "2027-02-11", "working": "0", "note": "春节"})
    response = client.post("/admin/calendar/", data={"csrf_token": token, "day": "2027-02-12", "working": "0",
                                                     "note": "春节"}, follow_redirects=True)
    assert "已按新的工作日历调整 2 个待处理的截止时间。" in response.get_data(as_text=True)  # the task and its reminder

    with database.session() as session:
        task = session.get(HumanTask, task_id)
        instance = session.get(ProcessInstance, task.instance_id)
        assert task.state == TaskState.OPEN
        assert task.due_at == sh(17, 10)  # Wednesday: two working days later
        assert instance.next_due_at == sh(16, 10)  # the reminder moved too
        # Not overdue any more: the escalation steps are taken again when the new due time comes.
        escalation = session.get(TaskEscalation, task_id)
        assert escalation.level == EscalationLevel.NONE and escalation.head_at is None

    page = client.get(f"/cases/{case_id}").get_data(as_text=True)
    moved = [item for item in page.split('data-testid="timeline-item"')[1:] if 'data-action="deadline_moved"' in item]
    assert len(moved) >= 2  # the task (twice: each entry moved it a day) and the reminder
    task_items = [item for item in moved if "答复客户" in item]
    assert any("2027-02-16" in item and "2027-02-17" in item for item in task_items), task_items
    assert any("催办" in item for item in moved)

    # Removing the entry again moves it back (one working day earlier).
    client.post("/admin/calendar/2027-02-12/delete", data={"csrf_token": token})
    with database.session() as session:
        assert session.get(HumanTask, task_id).due_at == sh(16, 10)


def test_the_warning_and_recompute_leave_other_users_alone(app, client):
    clock.set(datetime(2026, 11, 29, 2, 0, tzinfo=UTC))
    login(client, "quality")
    assert 'data-testid="calendar-warning"' not in client.get("/inbox/").get_data(as_text=True)
    token = csrf_token(client, "/inbox/")
    assert client.post("/admin/calendar/", data={"csrf_token": token, "day": "2027-02-11",
                                                 "working": "0"}).status_code == 403
