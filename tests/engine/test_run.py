"""Running instances: task projection, routing, audit, timers, multi-instance, call activities."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.clock import clock
from app.data.models import Department, InstanceStatus, TaskState
from app.engine.errors import NotFound
from app.engine.runtime import due_instance_ids
from tests.engine import (
    audit,
    chain,
    definitions,
    diagram,
    instance,
    open_tasks,
    process,
    simple_process,
    tasks,
    user_task,
)

T0 = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)


@pytest.fixture
def frozen():
    clock.set(T0)
    yield T0
    clock.reset()


def dept_id(session, code: str) -> int:
    return session.scalars(select(Department.id).where(Department.code == code)).one()


# ------------------------------------------------------------------------- basic run


def test_start_projects_the_first_user_task(session, runtime, actor, deploy_sources, frozen):
    deploy_sources(diagram("review.bpmn"))
    started = runtime.start(session, "review", {"customer": "ACME"}, actor)
    session.commit()
    assert started.status == InstanceStatus.RUNNING
    (task,) = open_tasks(session, started.id)
    assert task.element_id == "enter"
    assert task.department_id == dept_id(session, "marketing")  # from the lane
    assert task.form_key == "note"
    assert task.form_id == started.definition.forms["note"]
    assert (task.title, task.title_en) == ("登记", "Enter")
    assert task.due_at == T0 + timedelta(hours=4)
    assert task.process_key == "review"
    assert runtime.task_data(session, task.id)["customer"] == "ACME"


def test_complete_runs_script_and_routes_through_gateway(session, runtime, actor, deploy_sources):
    deploy_sources(diagram("review.bpmn"))
    accepted = runtime.start(session, "review", {}, actor)
    rejected = runtime.start(session, "review", {}, actor)
    session.commit()
    for inst, note, decision in ((accepted, "abcd", "accept"), (rejected, "xy", "reject")):
        runtime.complete_task(session, open_tasks(session, inst.id)[0].id, {"note": note}, actor)
        session.commit()
        (decide,) = open_tasks(session, inst.id)
        assert decide.element_id == "decide"
        assert decide.department_id == dept_id(session, "quality")  # lane named in Chinese
        assert decide.due_at is None
        runtime.complete_task(session, decide.id, {"decision": decision}, actor)
        session.commit()
    assert runtime.instance_data(session, accepted.id)["outcome"] == "accepted"
    assert runtime.instance_data(session, accepted.id)["points"] == 8
    assert runtime.instance_data(session, rejected.id)["outcome"] == "rejected"
    assert runtime.instance_data(session, rejected.id)["points"] == 4
    for inst in (accepted, rejected):
        row = instance(session, inst.id)
        assert row.status == InstanceStatus.COMPLETED
        assert row.completed_at is not None
        assert open_tasks(session, inst.id) == []
        assert {t.state for t in tasks(session, inst.id)} == {TaskState.COMPLETED}


def test_audit_events_record_start_and_completions(session, runtime, deploy_sources):
    from app.engine.context import Actor

    deploy_sources(diagram("review.bpmn"))
    started = runtime.start(session, "review", {"customer": "ACME"}, Actor(None, "starter"))
    session.commit()
    task = open_tasks(session, started.id)[0]
    runtime.complete_task(session, task.id, {"note": "first"}, Actor(None, "clerk"), submit_token="tok-1")
    session.commit()
    events = audit(session, started.id)
    assert [e.action for e in events] == ["process_started", "task_completed"]
    start_event, done = events
    assert start_event.actor_label == "starter"
    assert start_event.data_after == {"customer": "ACME"}
    assert start_event.message == "review v1"
    assert (done.task_id, done.element, done.actor_label) == (task.id, "enter", "clerk")
    assert done.data_before == {"note": None}
    assert done.data_after == {"note": "first"}
    row = tasks(session, started.id)
    completed = next(t for t in row if t.id == task.id)
    assert completed.state == TaskState.COMPLETED and completed.completion_token == "tok-1"


def test_start_unknown_process_is_not_found(session, runtime, actor):
    with pytest.raises(NotFound):
        runtime.start(session, "nope", {}, actor)


def test_cancel_closes_open_tasks(session, runtime, actor, deploy_sources):
    deploy_sources(diagram("review.bpmn"))
    started = runtime.start(session, "review", {}, actor)
    session.commit()
    runtime.cancel(session, started.id, actor, "duplicate")
    session.commit()
    assert instance(session, started.id).status == InstanceStatus.CANCELLED
    assert [t.state for t in tasks(session, started.id)] == [TaskState.CANCELLED]
    assert audit(session, started.id)[-1].message == "duplicate"


# ------------------------------------------------------------------------- timers


def _timer_process(interrupting: bool) -> str:
    body = (
        '<bpmn:startEvent id="start" />'
        + user_task("wait_reply", "等待答复", formKey="note", department="quality")
        + f'<bpmn:boundaryEvent id="timeout" attachedToRef="wait_reply" cancelActivity="{str(interrupting).lower()}">'
        '<bpmn:timerEventDefinition id="td"><bpmn:timeDuration xsi:type="bpmn:tFormalExpression">"PT1H"'
        "</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:boundaryEvent>"
        + user_task("escalate", "升级", formKey="note", department="management")
        + '<bpmn:endEvent id="end" /><bpmn:endEvent id="end_escalated" />'
        + chain("start", "wait_reply", "end") + chain("timeout", "escalate", "end_escalated")
    )
    return definitions(process("timed", body))


def _fire(session, runtime, instance_id) -> bool:
    fired = runtime.fire_timers(session, instance_id)
    session.commit()
    return fired


@pytest.mark.parametrize("interrupting", [True, False], ids=["interrupting", "non-interrupting"])
def test_boundary_timer_fires_once_when_due(session, runtime, actor, deploy_sources, frozen, interrupting):
    deploy_sources({"timed.bpmn": _timer_process(interrupting)})
    started = runtime.start(session, "timed", {}, actor)
    session.commit()
    assert instance(session, started.id).next_due_at == T0 + timedelta(hours=1)
    assert due_instance_ids(session, clock.now()) == []

    clock.advance(timedelta(minutes=59))
    assert _fire(session, runtime, started.id) is False
    assert [t.element_id for t in open_tasks(session, started.id)] == ["wait_reply"]

    clock.advance(timedelta(minutes=2))
    assert due_instance_ids(session, clock.now()) == [started.id]
    assert _fire(session, runtime, started.id) is True
    assert _fire(session, runtime, started.id) is False  # fires exactly once
    by_element = {t.element_id: t.state for t in tasks(session, started.id)}
    expected_wait = TaskState.CANCELLED if interrupting else TaskState.OPEN
    assert by_element == {"wait_reply": expected_wait, "escalate": TaskState.OPEN}
    (escalate,) = [t for t in open_tasks(session, started.id) if t.element_id == "escalate"]
    assert escalate.department_id == dept_id(session, "management")
    row = instance(session, started.id)
    assert row.next_due_at is None
    assert row.status == InstanceStatus.RUNNING
    assert [e.actor_label for e in audit(session, started.id, "timer_fired")] == ["timer"]
    assert due_instance_ids(session, clock.now()) == []


def test_completing_before_the_timer_removes_it(session, runtime, actor, deploy_sources, frozen):
    deploy_sources({"timed.bpmn": _timer_process(True)})
    started = runtime.start(session, "timed", {}, actor)
    session.commit()
    runtime.complete_task(session, open_tasks(session, started.id)[0].id, {"note": "in time"}, actor)
    session.commit()
    row = instance(session, started.id)
    assert row.status == InstanceStatus.COMPLETED and row.next_due_at is None
    clock.advance(timedelta(hours=2))
    assert _fire(session, runtime, started.id) is False
    assert [t.element_id for t in tasks(session, started.id)] == ["wait_reply"]


def test_intermediate_timer_with_date_expression(session, runtime, actor, deploy_sources, frozen):
    body = (
        '<bpmn:intermediateCatchEvent id="wait_2h" name="等两小时"><bpmn:timerEventDefinition id="td">'
        '<bpmn:timeDate xsi:type="bpmn:tFormalExpression">add_hours(now(), 2)</bpmn:timeDate>'
        "</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>"
        + user_task("after_pause", "之后", formKey="note", department="quality")
    )
    deploy_sources({"pause.bpmn": definitions(simple_process("pause", body, ["wait_2h", "after_pause"]))})
    started = runtime.start(session, "pause", {}, actor)
    session.commit()
    row = instance(session, started.id)
    assert row.status == InstanceStatus.RUNNING
    assert row.next_due_at == T0 + timedelta(hours=2)
    assert open_tasks(session, started.id) == []
    clock.advance(timedelta(minutes=119))
    assert _fire(session, runtime, started.id) is False
    assert open_tasks(session, started.id) == []
    clock.advance(timedelta(minutes=2))
    assert _fire(session, runtime, started.id) is True
    assert [t.element_id for t in open_tasks(session, started.id)] == ["after_pause"]
    assert _fire(session, runtime, started.id) is False


# ------------------------------------------------------------------------- multi-instance


def _mi_process() -> str:
    loop = (
        "<bpmn:multiInstanceLoopCharacteristics><bpmn:loopDataInputRef>departments</bpmn:loopDataInputRef>"
        '<bpmn:inputDataItem id="dept" name="dept" /></bpmn:multiInstanceLoopCharacteristics>'
    )
    body = user_task("report", "8D报告", inner=loop, formKey="report", department="=dept", dueAt="PT48H")
    return definitions(simple_process("mi", body, ["report"]))


def test_parallel_multi_instance_opens_one_task_per_department(session, runtime, actor, deploy_sources, frozen):
    deploy_sources({"mi.bpmn": _mi_process()})
    departments = ["production", "purchasing", "technical"]
    started = runtime.start(session, "mi", {"departments": departments}, actor)
    session.commit()
    open_rows = open_tasks(session, started.id)
    assert sorted(t.department_id for t in open_rows) == sorted(dept_id(session, d) for d in departments)
    assert {t.element_id for t in open_rows} == {"report"}
    assert {t.due_at for t in open_rows} == {T0 + timedelta(hours=48)}
    by_dept = {t.department_id: t for t in open_rows}
    for i, code in enumerate(departments):
        assert instance(session, started.id).status == InstanceStatus.RUNNING
        runtime.complete_task(session, by_dept[dept_id(session, code)].id, {"root_cause": f"cause {i}"}, actor)
        session.commit()
        assert len(open_tasks(session, started.id)) == len(departments) - i - 1
    assert instance(session, started.id).status == InstanceStatus.COMPLETED


# ------------------------------------------------------------------------- call activity


def _run_parent(session, runtime, actor):
    started = runtime.start(session, "parent", {"customer": "ACME"}, actor)
    session.commit()
    (child_task,) = open_tasks(session, started.id)
    assert child_task.element_id == "child_work"
    assert child_task.department_id == dept_id(session, "technical")
    assert runtime.task_data(session, child_task.id)["customer"] == "ACME"
    runtime.complete_task(session, child_task.id, {"note": "from child"}, actor)
    session.commit()
    (after,) = open_tasks(session, started.id)
    assert after.element_id == "after"
    data = runtime.task_data(session, after.id)
    assert data["child_done"] is True and data["note"] == "from child"
    runtime.complete_task(session, after.id, {"note": "done"}, actor)
    session.commit()
    assert instance(session, started.id).status == InstanceStatus.COMPLETED


def test_call_activity_to_previously_deployed_process(session, runtime, actor, deploy_sources):
    child = deploy_sources(diagram("child.bpmn")).created[0]
    parent = deploy_sources(diagram("parent.bpmn")).created[0]
    assert parent.dependencies == {"child": child.id}
    _run_parent(session, runtime, actor)


def test_call_activity_deployed_in_the_same_upload(session, runtime, actor, deploy_sources):
    result = deploy_sources({**diagram("parent.bpmn"), **diagram("child.bpmn")})
    by_key = {d.key: d for d in result.created}
    assert set(by_key) == {"parent", "child"}
    assert by_key["parent"].dependencies == {"child": by_key["child"].id}
    _run_parent(session, runtime, actor)


def test_new_child_version_makes_a_new_parent_version(session, runtime, actor, deploy_sources):
    deploy_sources({**diagram("parent.bpmn"), **diagram("child.bpmn")})
    (name, xml), = diagram("child.bpmn").items()
    result = deploy_sources({name: xml.replace("子流程任务", "子流程任务二")})
    assert [(d.key, d.version) for d in result.created] == [("child", 2)]
    again = deploy_sources({**diagram("parent.bpmn"), name: xml.replace("子流程任务", "子流程任务二")})
    assert [(d.key, d.version) for d in again.created] == [("parent", 2)]
