"""Deadlines computed with the working calendar are computed again when it changes:
human tasks' due times and waiting timers move, deadlines not using the calendar stay."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from app.clock import clock
from app.engine.calendar import WorkingCalendar, set_default_calendar
from app.engine.deadlines import calendar_elements
from app.engine.definitions.lookup import latest_definition, load_spec
from tests.engine import audit, chain, definitions, instance, open_tasks, process, user_task

SH = ZoneInfo("Asia/Shanghai")
THURSDAY = datetime(2027, 2, 4, 10, 0, tzinfo=SH)  # the day before the 2027 Spring Festival


def sh(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2027, month, day, hour, minute, tzinfo=SH)


def boundary_timer(element_id: str, attached: str, expression: str) -> str:
    return (
        f'<bpmn:boundaryEvent id="{element_id}" name="提醒" cancelActivity="false" attachedToRef="{attached}">'
        f'<bpmn:timerEventDefinition id="{element_id}_def">'
        f'<bpmn:timeDate xsi:type="bpmn:tFormalExpression">{expression}</bpmn:timeDate>'
        "</bpmn:timerEventDefinition></bpmn:boundaryEvent>"
    )


def intermediate_timer(element_id: str, expression: str) -> str:
    return (
        f'<bpmn:intermediateCatchEvent id="{element_id}" name="等待">'
        f'<bpmn:timerEventDefinition id="{element_id}_def">'
        f'<bpmn:timeDate xsi:type="bpmn:tFormalExpression">{expression}</bpmn:timeDate>'
        "</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>"
    )


#: answer (3 working days, reminder timer after 2) in parallel with a 48 h task, a task due at
#: a data key and a wait of 1 working day.
DEADLINES = definitions(process(
    "deadlines",
    '<bpmn:startEvent id="start" /><bpmn:parallelGateway id="fork" />'
    + user_task("answer", "答复", formKey="note", department="quality", dueAt="=add_working_days(now(), 3)")
    + boundary_timer("remind", "answer", "add_working_days(now(), 2)")
    + '<bpmn:scriptTask id="note_reminder"><bpmn:script>reminded = True</bpmn:script></bpmn:scriptTask>'
    + '<bpmn:endEvent id="end_reminder" />'
    + user_task("report", "报告", formKey="note", department="quality", dueAt="PT48H")
    + user_task("execute", "执行", formKey="note", department="quality", dueAt="=round_due_at")
    + intermediate_timer("wait", "add_working_days(now(), 1)")
    + user_task("after_wait", "等待后", formKey="note", department="quality")
    + '<bpmn:endEvent id="end_a" /><bpmn:endEvent id="end_b" /><bpmn:endEvent id="end_c" />'
    + '<bpmn:endEvent id="end_d" />'
    + chain("start", "fork")
    + chain("fork", "answer", "end_a", prefix="a") + chain("remind", "note_reminder", "end_reminder", prefix="r")
    + chain("fork", "report", "end_b", prefix="b") + chain("fork", "execute", "end_c", prefix="c")
    + chain("fork", "wait", "after_wait", "end_d", prefix="d"),
))


@pytest.fixture
def calendar():
    set_default_calendar(None)
    yield
    set_default_calendar(None)
    clock.reset()


def start(session, runtime, actor, deploy_sources) -> int:
    deploy_sources({"deadlines.bpmn": DEADLINES})
    clock.set(THURSDAY)
    started = runtime.start(session, "deadlines", {"round_due_at": "2027-02-11T09:30:00+00:00"}, actor)
    session.commit()
    return started.id


def due(session, instance_id: int) -> dict[str, datetime]:
    return {t.element_id: t.due_at for t in open_tasks(session, instance_id)}


def test_calendar_elements_of_a_process(session, deploy_sources, calendar):
    deploy_sources({"deadlines.bpmn": DEADLINES})
    elements = calendar_elements(load_spec(session, latest_definition(session, "deadlines")))
    # answer: its dueAt and its boundary timer; report (48 h) and execute (a data key) are not
    assert elements.tasks == frozenset({"answer"})
    assert elements.other_timers  # the wait


def test_nothing_moves_while_the_calendar_is_unchanged(session, runtime, actor, deploy_sources, calendar):
    deploy_sources({"deadlines.bpmn": DEADLINES})
    # A running clock during working hours: due times are computed from the creation instant
    # (pinned), so evaluating them again later gives the very same instant.
    clock.reset()
    clock.advance(THURSDAY - datetime.now(UTC))
    instance_id = runtime.start(session, "deadlines", {"round_due_at": "2027-02-11T09:30:00+00:00"}, actor).id
    session.commit()
    assert runtime.recompute_deadlines(session, instance_id, actor) == []
    assert audit(session, instance_id, "deadline_moved") == []


def test_a_calendar_change_moves_calendar_deadlines_only(session, runtime, actor, deploy_sources, calendar):
    instance_id = start(session, runtime, actor, deploy_sources)
    before = due(session, instance_id)
    # 3 working days from Thursday 4 Feb 10:00 run past the Spring Festival (5–10 Feb).
    assert before["answer"] == sh(2, 15, 10)
    assert before["report"] == sh(2, 6, 10)  # 48 clock hours
    row = instance(session, instance_id)
    # The wait (1 working day) is the earliest timer: Thursday 11 Feb 10:00; the reminder 12 Feb.
    assert row.next_due_at == sh(2, 11, 10)

    # The State Council's schedule (say) makes Thursday 11 and Friday 12 February days off.
    clock.set(sh(2, 4, 15))
    set_default_calendar(WorkingCalendar({date(2027, 2, 11): False, date(2027, 2, 12): False}))
    moves = runtime.recompute_deadlines(session, instance_id, actor)
    session.commit()

    assert {(m.kind, m.element, m.before, m.after) for m in moves} == {
        ("task", "answer", sh(2, 15, 10), sh(2, 17, 10)),
        ("timer", "remind", sh(2, 12, 10), sh(2, 16, 10)),
        ("timer", "wait", sh(2, 11, 10), sh(2, 15, 10)),
    }
    after = due(session, instance_id)
    assert after["answer"] == sh(2, 17, 10)
    assert after["report"] == before["report"] and after["execute"] == before["execute"]
    assert instance(session, instance_id).next_due_at == sh(2, 15, 10)
    events = audit(session, instance_id, "deadline_moved")
    assert len(events) == 3
    answer = next(e for e in events if e.element == "answer")
    assert answer.message == "答复" and answer.task_id is not None
    assert answer.data_before["due_at"] == sh(2, 15, 10).astimezone(ZoneInfo("UTC")).isoformat()
    assert answer.data_after["due_at"] == sh(2, 17, 10).astimezone(ZoneInfo("UTC")).isoformat()

    # The moved timers fire at their new times, not the old ones.
    clock.set(sh(2, 12, 11))
    runtime.fire_timers(session, instance_id)
    session.commit()
    assert "after_wait" not in due(session, instance_id)
    clock.set(sh(2, 15, 10, 1))
    runtime.fire_timers(session, instance_id)
    session.commit()
    assert "after_wait" in due(session, instance_id)
    assert runtime.instance_data(session, instance_id).get("reminded") is None
    clock.set(sh(2, 16, 10, 1))
    runtime.fire_timers(session, instance_id)
    session.commit()
    assert instance(session, instance_id).next_due_at is None

    # Computing again with the same calendar moves nothing more.
    assert runtime.recompute_deadlines(session, instance_id, actor) == []


def test_a_deadline_that_cannot_be_computed_again_stays_and_the_others_move(
        session, runtime, actor, deploy_sources, calendar):
    # fails (1 / 0) once Thursday 4 February is a day off, as a migrated instance's dueAt may
    # fail on data it lacks: one such deadline must not block the calendar change
    fragile = '=add_working_days(now(), 1) if add_working_hours(now(), 1) < "2027-02-05" else 1 / 0'
    xml = definitions(process(
        "fragile", '<bpmn:startEvent id="start" /><bpmn:parallelGateway id="fork" />'
        + user_task("risky", "脆弱", formKey="note", department="quality", dueAt=fragile)
        + user_task("answer", "答复", formKey="note", department="quality", dueAt="=add_working_days(now(), 3)")
        + '<bpmn:endEvent id="end_a" /><bpmn:endEvent id="end_b" />'
        + chain("start", "fork") + chain("fork", "risky", "end_a", prefix="a")
        + chain("fork", "answer", "end_b", prefix="b"),
    ))
    deploy_sources({"fragile.bpmn": xml})
    clock.set(THURSDAY)
    instance_id = runtime.start(session, "fragile", {}, actor).id
    session.commit()
    assert due(session, instance_id) == {"risky": sh(2, 11, 10), "answer": sh(2, 15, 10)}
    set_default_calendar(WorkingCalendar({date(2027, 2, 4): False}))
    moves = runtime.recompute_deadlines(session, instance_id, actor)
    session.commit()
    assert [(m.element, m.after) for m in moves] == [("answer", sh(2, 15, 17, 30))]
    assert due(session, instance_id) == {"risky": sh(2, 11, 10), "answer": sh(2, 15, 17, 30)}
