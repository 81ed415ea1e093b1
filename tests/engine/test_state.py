"""Stall detection, concurrency basics on any database, and the state codec."""

from __future__ import annotations

import json
from uuid import UUID

import pytest
from SpiffWorkflow.util.task import TaskState as SpiffState
from sqlalchemy.orm.exc import StaleDataError

from app.data.models import InstanceStatus, TaskState
from app.engine import codec
from app.engine.definitions.lookup import load_spec
from app.engine.errors import ConcurrentUpdate, TaskNotOpen
from app.engine.runtime import LOADED_KEY, WorkflowRuntime
from tests.engine import audit, definitions, diagram, instance, open_tasks, simple_process, tasks, user_task

# ------------------------------------------------------------------------- stall detection


def test_stalled_instance_becomes_an_incident(session, runtime, actor, deploy_sources):
    """SpiffWorkflow's joins and gateways do not stall on valid BPMN (a parallel join fed by
    one exclusive branch still fires; a gateway with no true condition is an error), so the
    stalled state is made by putting the only READY task back to FUTURE (its parent is done,
    so nothing will ever make it ready again), as a lost or half-applied update would leave
    it. The next operation must notice."""
    deploy_sources(diagram("review.bpmn"))
    started = runtime.start(session, "review", {}, actor)
    session.commit()
    workflow = runtime.load(session, started)
    (ready,) = workflow.get_tasks(state=SpiffState.READY, manual=True)
    ready._set_state(SpiffState.FUTURE)
    assert not workflow.is_completed()
    assert not workflow.get_tasks(state=SpiffState.READY | SpiffState.WAITING | SpiffState.STARTED)
    started.state = codec.dumps(workflow)
    session.commit()

    runtime.fire_timers(session, started.id)
    session.commit()
    row = instance(session, started.id)
    assert row.status == InstanceStatus.INCIDENT
    assert "stalled" in row.incident_message
    assert [t.state for t in tasks(session, started.id)] == [TaskState.CANCELLED]
    (event,) = audit(session, started.id, "incident")
    assert event.message == row.incident_message


def test_waiting_timer_is_not_a_stall(session, runtime, actor, deploy_sources):
    body = (
        '<bpmn:intermediateCatchEvent id="wait_day"><bpmn:timerEventDefinition id="td">'
        '<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">"P1D"</bpmn:timeDuration>'
        "</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>"
    )
    deploy_sources({"w.bpmn": definitions(simple_process("waiter", body, ["wait_day"]))})
    started = runtime.start(session, "waiter", {}, actor)
    session.commit()
    assert started.status == InstanceStatus.RUNNING
    assert started.incident_message is None
    assert started.next_due_at is not None


# ------------------------------------------------------------------------- concurrency basics


def _two_task_instance(session, runtime, actor, deploy_sources):
    loop = (
        "<bpmn:multiInstanceLoopCharacteristics><bpmn:loopDataInputRef>departments</bpmn:loopDataInputRef>"
        '<bpmn:inputDataItem id="dept" name="dept" /></bpmn:multiInstanceLoopCharacteristics>'
    )
    body = user_task("report", "报告", inner=loop, formKey="report", department="=dept")
    deploy_sources({"mi.bpmn": definitions(simple_process("mi2", body, ["report"]))})
    started = runtime.start(session, "mi2", {"departments": ["production", "purchasing"]}, actor)
    session.commit()
    return started, open_tasks(session, started.id)


def test_completing_a_task_twice_is_refused(session, runtime, actor, deploy_sources):
    deploy_sources(diagram("review.bpmn"))
    started = runtime.start(session, "review", {}, actor)
    session.commit()
    task_id = open_tasks(session, started.id)[0].id
    runtime.complete_task(session, task_id, {"note": "once"}, actor)
    session.commit()
    with pytest.raises(TaskNotOpen):
        runtime.complete_task(session, task_id, {"note": "twice"}, actor)
    session.rollback()
    assert len(audit(session, started.id, "task_completed")) == 1
    assert runtime.instance_data(session, started.id)["note"] == "once"


def test_same_submit_token_is_idempotent(session, runtime, actor, deploy_sources):
    deploy_sources(diagram("review.bpmn"))
    started = runtime.start(session, "review", {}, actor)
    session.commit()
    task_id = open_tasks(session, started.id)[0].id
    first = runtime.complete_task(session, task_id, {"note": "once"}, actor, submit_token="tok")
    session.commit()
    again = runtime.complete_task(session, task_id, {"note": "double click"}, actor, submit_token="tok")
    session.commit()
    assert again.id == first.id and again.state == TaskState.COMPLETED
    assert len(audit(session, started.id, "task_completed")) == 1
    assert runtime.instance_data(session, started.id)["note"] == "once"
    with pytest.raises(TaskNotOpen):
        runtime.complete_task(session, task_id, {"note": "other"}, actor, submit_token="other-token")


class _UnlockedRuntime(WorkflowRuntime):
    """Skips the row lock and lets another session commit between load and save, which is
    exactly the interleaving the lock_version check exists for."""

    def __init__(self, interleave) -> None:
        super().__init__()
        self.interleave = interleave

    def _lock(self, session, instance_id, task_id=None):
        from app.data.models import HumanTask, ProcessInstance

        instance = session.get(ProcessInstance, instance_id, populate_existing=True)
        task = session.get(HumanTask, task_id, populate_existing=True) if task_id is not None else None
        return instance, [task] if task is not None else []

    def load(self, session, instance):
        workflow = super().load(session, instance)
        if self.interleave is not None:
            self.interleave()
            self.interleave = None
        return workflow


def test_stale_lock_version_is_a_concurrent_update(database, session, runtime, actor, deploy_sources):
    started, (first, second) = _two_task_instance(session, runtime, actor, deploy_sources)
    version = started.lock_version

    def other_user_completes_second():
        with database.transaction() as other:
            runtime.complete_task(other, second.id, {"root_cause": "B"}, actor)

    stale = _UnlockedRuntime(other_user_completes_second)
    # StaleDataError is accepted here too: see test_stale_save_is_reported_as_concurrent_update.
    with pytest.raises((ConcurrentUpdate, StaleDataError)):
        stale.complete_task(session, first.id, {"root_cause": "A"}, actor)
    session.rollback()

    row = instance(session, started.id)
    assert row.lock_version == version + 1  # only the other session's save landed
    states = {t.id: t.state for t in tasks(session, started.id)}
    assert states == {first.id: TaskState.OPEN, second.id: TaskState.COMPLETED}
    # The refused caller can retry and succeed.
    runtime.complete_task(session, first.id, {"root_cause": "A"}, actor)
    session.commit()
    assert instance(session, started.id).status == InstanceStatus.COMPLETED


def test_stale_save_is_reported_as_concurrent_update(database, session, runtime, actor, deploy_sources):
    started, (first, second) = _two_task_instance(session, runtime, actor, deploy_sources)

    def other_user_completes_second():
        with database.transaction() as other:
            runtime.complete_task(other, second.id, {"root_cause": "B"}, actor)

    with pytest.raises(ConcurrentUpdate):
        _UnlockedRuntime(other_user_completes_second).complete_task(session, first.id, {"root_cause": "A"}, actor)


def test_locked_completion_of_different_tasks_both_land(database, session, runtime, actor, deploy_sources):
    started, (first, second) = _two_task_instance(session, runtime, actor, deploy_sources)
    with database.transaction() as a:
        runtime.complete_task(a, first.id, {"root_cause": "A"}, actor)
    with database.transaction() as b:
        runtime.complete_task(b, second.id, {"root_cause": "B"}, actor)
    assert instance(session, started.id).status == InstanceStatus.COMPLETED
    assert len(audit(session, started.id, "task_completed")) == 2


def _count_loads(monkeypatch) -> list[int]:
    calls: list[int] = []
    original = codec.loads

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(codec, "loads", counting)
    return calls


def test_completing_after_reading_the_task_data_loads_the_workflow_once(
        database, session, runtime, actor, deploy_sources, monkeypatch):
    loop = (
        "<bpmn:multiInstanceLoopCharacteristics><bpmn:loopDataInputRef>departments</bpmn:loopDataInputRef>"
        '<bpmn:inputDataItem id="dept" name="dept" /></bpmn:multiInstanceLoopCharacteristics>'
    )
    body = user_task("report", "报告", inner=loop, formKey="report", department="=dept")
    deploy_sources({"mi3.bpmn": definitions(simple_process("mi3", body, ["report"]))})
    started = runtime.start(session, "mi3", {"departments": ["production", "purchasing", "warehouse"]}, actor)
    session.commit()
    first, second, third = open_tasks(session, started.id)
    loads = _count_loads(monkeypatch)

    data = runtime.task_data(session, first.id)
    data["departments"].append("finance")  # a copy: the remembered workflow is not changed
    runtime.complete_task(session, first.id, {"root_cause": "A"}, actor)
    session.commit()
    assert len(loads) == 1
    assert runtime.instance_data(session, started.id)["departments"] == ["production", "purchasing", "warehouse"]

    # Someone else saves the instance between our read and our completion: it is loaded again,
    # so their completion is not overwritten by the workflow we read before it.
    runtime.task_data(session, second.id)
    with database.transaction() as other:
        runtime.complete_task(other, third.id, {"root_cause": "C"}, actor)
    loads.clear()
    runtime.complete_task(session, second.id, {"root_cause": "B"}, actor)
    session.commit()
    assert len(loads) == 1
    assert instance(session, started.id).status == InstanceStatus.COMPLETED
    with database.session() as fresh:
        assert {t.state for t in tasks(fresh, started.id)} == {TaskState.COMPLETED}
        assert len(audit(fresh, started.id, "task_completed")) == 3


def test_a_rollback_forgets_the_remembered_workflow(session, runtime, actor, deploy_sources):
    deploy_sources(diagram("review.bpmn"))
    started = runtime.start(session, "review", {}, actor)
    session.commit()
    runtime.task_data(session, open_tasks(session, started.id)[0].id)
    assert LOADED_KEY in session.info
    session.rollback()
    assert LOADED_KEY not in session.info


# ------------------------------------------------------------------------- codec


def test_codec_round_trip_keeps_data_and_task_states(session, runtime, actor, deploy_sources):
    deploy_sources(diagram("review.bpmn"))
    started = runtime.start(session, "review", {"customer": "ACME", "items": [1, 2]}, actor)
    session.commit()
    runtime.complete_task(session, open_tasks(session, started.id)[0].id, {"note": "abc"}, actor)
    session.commit()
    row = instance(session, started.id)

    assert row.serializer_version == "1.5"
    stored = json.loads(row.state)
    assert "spec" not in stored and "subprocess_specs" not in stored
    assert stored["serializer_version"] == "1.5"
    assert len(row.state) < len(row.definition.bpmn_xml) * 10

    parsed = load_spec(session, row.definition)
    workflow = codec.loads(row.state, parsed.spec, parsed.subprocess_specs, runtime.script_engine())
    states = {str(t.id): (t.task_spec.name, t.state) for t in workflow.get_tasks()}
    (ready,) = workflow.get_tasks(state=SpiffState.READY, manual=True)
    assert ready.task_spec.name == "decide"
    assert states[str(ready.id)] == ("decide", SpiffState.READY)
    assert ready.data["customer"] == "ACME" and ready.data["items"] == [1, 2]
    assert ready.data["note"] == "abc" and ready.data["points"] == 6
    assert json.loads(codec.dumps(workflow)) == stored
    # ids that are equal but other objects than the tasks' keys (the dump looks ids up by
    # identity first) are written the same
    for task in workflow.tasks.values():
        task._parent = UUID(str(task._parent)) if task._parent is not None else None
        task._children = [UUID(str(child)) for child in task._children]
    assert json.loads(codec.dumps(workflow)) == stored

    # The reloaded workflow still runs.
    ready.set_data(decision="accept")
    ready.run()
    workflow.do_engine_steps()
    assert workflow.is_completed()
    assert workflow.last_task.data["outcome"] == "accepted"
