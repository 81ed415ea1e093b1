"""Thrown BPMN messages nobody in the instance catches start the processes whose start event
catches them: once, in the same case, audited on the thrower, with bounded chains."""

from __future__ import annotations

from xml.sax.saxutils import escape

import pytest
from sqlalchemy import func, select

from app.data.models import AuditEvent, Case, InstanceStatus, ProcessInstance
from app.engine.definitions.lookup import latest_definition
from app.engine.errors import DefinitionError, EngineError, NotFound
from app.engine.runtime import MAX_MESSAGE_CHAIN
from tests.engine import audit, definitions, instance, open_tasks, process, simple_process, user_task
from tests.engine import chain as flows


def message(name: str) -> str:
    return f'<bpmn:message id="Message_{name}" name="{name}" />'


def throw_event(element_id: str, name: str, payload: str) -> str:
    return (
        f'<bpmn:intermediateThrowEvent id="{element_id}">'
        f'<bpmn:messageEventDefinition id="Def_{element_id}" messageRef="Message_{name}">'
        f"<bpmn:extensionElements><spiffworkflow:messagePayload>{escape(payload)}"
        "</spiffworkflow:messagePayload></bpmn:extensionElements>"
        "</bpmn:messageEventDefinition></bpmn:intermediateThrowEvent>"
    )


def message_start(name: str, variable: str) -> str:
    return (
        f'<bpmn:startEvent id="start"><bpmn:messageEventDefinition id="Def_start" messageRef="Message_{name}">'
        f"<bpmn:extensionElements><spiffworkflow:messageVariable>{variable}</spiffworkflow:messageVariable>"
        "</bpmn:extensionElements></bpmn:messageEventDefinition></bpmn:startEvent>"
    )


def note_task(element_id: str) -> str:
    return user_task(element_id, formKey="note", department="quality")


def thrower(name: str = "actions", payload: str = '{"amount": amount, "from": "thrower"}') -> str:
    """start → throw ``name`` → first (user) → second (user) → end."""
    body = throw_event("throw", name, payload) + note_task("first") + note_task("second")
    return definitions(message(name), simple_process("thrower", body, ["throw", "first", "second"]))


def catcher(name: str = "actions") -> str:
    """message start (payload into ``received``) → handle (user) → end."""
    body = message_start(name, "received") + note_task("handle") + '<bpmn:endEvent id="end" />'
    return definitions(message(name), process("catcher", body + flows("start", "handle", "end")))


def count(session, key: str) -> int:
    return session.scalar(select(func.count(ProcessInstance.id)).where(ProcessInstance.process_key == key))


def only(session, key: str) -> ProcessInstance:
    return session.scalars(select(ProcessInstance).where(ProcessInstance.process_key == key)).one()


@pytest.fixture
def case_id(session) -> int:
    row = Case(number="FB-1", feedback_type="complaint", customer_name="ACME", public_token="tok-msg")
    session.add(row)
    session.commit()
    return row.id


@pytest.fixture
def thrown(session, runtime, actor, deploy_sources, case_id):
    """The thrower started in a case, the catcher deployed: (thrower, catcher instance)."""
    deploy_sources({"catcher.bpmn": catcher(), "thrower.bpmn": thrower()})
    started = runtime.start(session, "thrower", {"amount": 3}, actor, case_id=case_id)
    session.commit()
    return started, only(session, "catcher")


def test_payload_lands_in_the_started_instance(session, runtime, thrown):
    _, child = thrown
    assert child.status == InstanceStatus.RUNNING
    (handle,) = open_tasks(session, child.id)
    assert handle.element_id == "handle"
    assert runtime.task_data(session, handle.id)["received"] == {"amount": 3, "from": "thrower"}


def test_started_instance_joins_the_throwers_case(session, thrown, case_id):
    parent, child = thrown
    assert instance(session, parent.id).case_id == case_id
    assert child.case_id == case_id
    assert child.definition.key == "catcher"


def test_message_is_routed_once_across_later_saves(session, runtime, actor, thrown):
    parent, _ = thrown
    for _ in range(2):
        runtime.fire_timers(session, parent.id)  # saves the thrower without moving it
        session.commit()
    runtime.complete_task(session, open_tasks(session, parent.id)[0].id, {"note": "one"}, actor)
    session.commit()
    assert [t.element_id for t in open_tasks(session, parent.id)] == ["second"]
    runtime.complete_task(session, open_tasks(session, parent.id)[0].id, {"note": "two"}, actor)
    session.commit()
    assert instance(session, parent.id).status == InstanceStatus.COMPLETED
    assert count(session, "catcher") == 1
    assert len(audit(session, parent.id, "event_thrown")) == 1


def test_throw_is_audited_with_payload_and_started_ids(session, thrown):
    parent, child = thrown
    (event,) = audit(session, parent.id, "event_thrown")
    assert (event.element, event.actor_label, event.case_id) == ("actions", "tester", parent.case_id)
    assert event.data_after == {"payload": {"amount": 3, "from": "thrower"}, "started_instances": [child.id]}
    (started,) = audit(session, child.id, "process_started")
    assert started.data_after["payload"] == {"amount": 3, "from": "thrower"}


def test_message_start_process_cannot_be_started_by_hand(session, runtime, actor, deploy_sources):
    deploy_sources({"catcher.bpmn": catcher()})
    with pytest.raises(EngineError, match="started by a message") as info:
        runtime.start(session, "catcher", {}, actor)
    assert not isinstance(info.value, NotFound)
    assert info.value.details == {"message_name": "actions"}
    session.rollback()
    assert count(session, "catcher") == 0


def test_self_triggering_chain_stops_at_the_limit(session, runtime, actor, deploy_sources):
    """``loop`` is started by ``again`` and throws ``again`` itself; ``kick`` throws the first one."""
    loop_body = (message_start("again", "depth") + throw_event("rethrow", "again", "depth + 1")
                 + '<bpmn:endEvent id="end" />' + flows("start", "rethrow", "end"))
    kick = simple_process("kick", throw_event("throw", "again", "1"), ["throw"])
    deploy_sources({
        "loop.bpmn": definitions(message("again"), process("loop", loop_body)),
        "kick.bpmn": definitions(message("again"), kick),
    })
    kicked = runtime.start(session, "kick", {}, actor)
    session.commit()
    assert instance(session, kicked.id).status == InstanceStatus.COMPLETED
    loops = session.scalars(select(ProcessInstance).where(ProcessInstance.process_key == "loop")
                            .order_by(ProcessInstance.id)).all()
    assert len(loops) == MAX_MESSAGE_CHAIN
    assert {row.status for row in loops} == {InstanceStatus.COMPLETED}
    assert [runtime.instance_data(session, row.id)["depth"] for row in loops] == [1, 2, 3, 4, 5]
    (last_throw,) = audit(session, loops[-1].id, "event_thrown")
    assert last_throw.data_after == {"payload": 6, "started_instances": []}


@pytest.mark.parametrize("payload", ['__import__("os")', '{"a": 1'], ids=["import", "syntax"])
def test_bad_payload_expression_is_refused_at_deploy(session, deploy_sources, payload):
    with pytest.raises(DefinitionError) as info:
        deploy_sources({"thrower.bpmn": thrower(payload=payload)})
    assert any(p.element_id == "throw" and "message payload" in p.text() for p in info.value.problems)
    session.rollback()
    assert latest_definition(session, "thrower") is None


def test_uncaught_message_is_only_audited(session, runtime, actor, deploy_sources):
    deploy_sources({"thrower.bpmn": thrower(name="nobody")})
    started = runtime.start(session, "thrower", {"amount": 1}, actor)
    session.commit()
    assert session.scalar(select(func.count()).select_from(ProcessInstance)) == 1
    (event,) = audit(session, started.id, "event_thrown")
    assert event.element == "nobody"
    assert event.data_after == {"payload": {"amount": 1, "from": "thrower"}, "started_instances": []}
    assert session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "event_thrown")) == 1
    assert [t.element_id for t in open_tasks(session, started.id)] == ["first"]


def test_a_message_start_beside_a_plain_start_is_refused_at_deploy(session, deploy_sources):
    body = (message_start("actions", "received") + '<bpmn:startEvent id="plain" />' + note_task("handle")
            + '<bpmn:endEvent id="end" />')
    both = definitions(message("actions"), process("both", body + flows("start", "handle", "end")
                                                    + flows("plain", "handle", prefix="g")))
    with pytest.raises(DefinitionError) as info:
        deploy_sources({"both.bpmn": both})
    assert any(p.element_id == "start" and "no other start event" in p.text() for p in info.value.problems)
