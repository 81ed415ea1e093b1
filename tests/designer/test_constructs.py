"""The constructs of issue 14, each with its own small diagram (tests/designer/corpus/own):
manual and plain tasks done by their lane's department with the confirm form, event-based
gateway timers that fire, event subprocesses started by a message or a signal, link events,
conditional events re-evaluated, and instances that can make no progress becoming incidents
at once, naming the element."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from app.clock import clock
from app.data.models import Department, InstanceStatus, ProcessInstance
from app.engine.context import Actor
from app.engine.definitions.confirm import CONFIRM_FORM_KEY
from app.engine.runtime import due_instance_ids
from app.services.designer import deploy_diagram, instance_view
from app.services.setup import known_department_names
from tests.designer.helpers import open_tasks
from tests.engine import definitions, simple_process, user_task
from tests.web.helpers import load_task_form, submit_task

OWN = Path(__file__).parent / "corpus" / "own"


@pytest.fixture
def runtime(app):
    return app.extensions["runtime"]


def _deploy(session, name: str, xml: str | None = None):
    from app.data.models import User

    designer = session.scalars(select(User).where(User.username == "designer")).one()
    result = deploy_diagram(session, name, xml if xml is not None else (OWN / name).read_text("utf-8"), designer)
    session.commit()
    return result.definitions[0]


def _start(session, runtime, key: str, data: dict | None = None) -> ProcessInstance:
    instance = runtime.start(session, key, data or {}, Actor.system("test"))
    session.commit()
    return instance


def test_manual_and_plain_tasks_go_to_their_lane_with_the_confirm_form(app, session, runtime):
    from tests.conftest import login

    _deploy(session, "manual_and_plain_tasks.bpmn")
    instance = _start(session, runtime, "own_manual_tasks")
    quality_id = session.scalar(select(Department.id).where(Department.code == "quality"))
    for element in ("inspect", "file_it"):
        task, = open_tasks(session, instance.id)
        assert (task.element_id, task.department_id, task.form_key) == (element, quality_id, CONFIRM_FORM_KEY)
        client = app.test_client()
        login(client, "quality")
        tokens = load_task_form(client, task.id)  # the quality staff member sees and opens it
        assert submit_task(client, task.id, {"confirm_remark": "好"}, tokens).status_code == 302
        session.expire_all()
    assert session.get(ProcessInstance, instance.id).status == InstanceStatus.COMPLETED


def test_a_manual_task_nobody_does_is_refused(session):
    xml = (OWN / "manual_and_plain_tasks.bpmn").read_text("utf-8").replace('name="quality"', 'name="Somebody"')
    from app.engine.definitions.deploy import validate_sources

    problems = validate_sources(session, {"m.bpmn": xml}, known_department_names(session))
    assert {p.element_id for p in problems} == {"inspect", "file_it"}
    assert all("not a known department" in p.text() for p in problems)


def test_event_based_gateway_timer_is_scheduled_and_fires(session, runtime):
    clock.set(clock.now())
    _deploy(session, "event_gateway_timer.bpmn")
    instance = _start(session, runtime, "own_event_gateway")
    session.refresh(instance)
    assert instance.status == InstanceStatus.RUNNING
    assert instance.next_due_at == clock.now() + timedelta(hours=1)  # the scheduler's job is written for it
    clock.advance(timedelta(hours=1, seconds=1))
    assert due_instance_ids(session, clock.now()) == [instance.id]
    assert runtime.fire_timers(session, instance.id)
    session.commit()
    session.refresh(instance)
    assert instance.status == InstanceStatus.COMPLETED
    assert runtime.instance_data(session, instance.id)["timed_out"] is True


@pytest.mark.parametrize("kind", ["message", "signal"])
def test_event_subprocess_started_by_a_message_or_signal_runs(session, runtime, kind):
    _deploy(session, f"event_subprocess_{kind}.bpmn")
    instance = _start(session, runtime, f"own_event_subprocess_{kind}")
    session.refresh(instance)
    assert instance.status == InstanceStatus.RUNNING  # the review task is open, the subprocess already ran
    assert "mark" in instance_view(session, runtime, instance.id).completed
    task, = open_tasks(session, instance.id)
    runtime.complete_task(session, task.id, {}, Actor.system("test"))
    session.commit()
    session.refresh(instance)
    assert instance.status == InstanceStatus.COMPLETED


def test_link_events_continue_at_the_catching_link(session, runtime):
    _deploy(session, "link_events.bpmn")
    instance = _start(session, runtime, "own_link_events")
    session.refresh(instance)
    assert instance.status == InstanceStatus.COMPLETED
    assert runtime.instance_data(session, instance.id)["steps"] == ["first", "second"]


def test_a_link_without_its_catching_link_is_refused(session):
    from app.engine.definitions.deploy import validate_sources

    xml = (OWN / "link_events.bpmn").read_text("utf-8").replace('<bpmn:linkEventDefinition id="l2" name="to_b" />',
                                                                '<bpmn:linkEventDefinition id="l2" name="other" />')
    problems = validate_sources(session, {"l.bpmn": xml}, known_department_names(session))
    assert any(p.element_id == "go_on" and "to_b" in p.text() for p in problems), problems


def test_waiting_for_a_message_nothing_sends_is_an_incident_at_once(session, runtime):
    _deploy(session, "waits_for_unsendable_message.bpmn")
    instance = _start(session, runtime, "own_stuck_message")
    session.refresh(instance)
    assert instance.status == InstanceStatus.INCIDENT
    assert "wait_reply" in instance.incident_message and "never_sent" in instance.incident_message


def test_a_task_for_no_known_department_is_an_incident(session, runtime):
    xml = definitions(simple_process("nobody", user_task("t1", "任务", formKey="note", department="=who"), ["t1"]))
    _deploy(session, "nobody.bpmn", xml)
    instance = _start(session, runtime, "nobody", {"who": "no such department"})
    session.refresh(instance)
    assert instance.status == InstanceStatus.INCIDENT
    assert "t1" in instance.incident_message
    staffed = _start(session, runtime, "nobody", {"who": "quality"})
    session.refresh(staffed)
    assert staffed.status == InstanceStatus.RUNNING


def test_conditional_event_is_evaluated_again_after_a_task(session, runtime):
    body = (
        user_task("t1", "填写", formKey="note", department="quality")
        + '<bpmn:intermediateCatchEvent id="when_ready"><bpmn:conditionalEventDefinition id="c1">'
          '<bpmn:condition xsi:type="bpmn:tFormalExpression">note == "go"</bpmn:condition>'
          "</bpmn:conditionalEventDefinition></bpmn:intermediateCatchEvent>"
    )
    xml = definitions(simple_process("cond", body, ["t1", "when_ready"]))
    _deploy(session, "cond.bpmn", xml)
    instance = _start(session, runtime, "cond")
    task, = open_tasks(session, instance.id)
    runtime.complete_task(session, task.id, {"note": "go"}, Actor.system("test"))
    session.commit()
    session.refresh(instance)
    assert instance.status == InstanceStatus.COMPLETED
