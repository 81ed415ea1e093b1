"""The one audit writer: what an event holds when written from a task, an instance or a case."""

from __future__ import annotations

from datetime import UTC, date, datetime

from app.clock import clock
from app.engine import audit
from app.engine.context import Actor
from tests.engine import diagram, open_tasks


def test_record_takes_instance_case_and_element_from_the_task(session, runtime, actor, deploy_sources):
    deploy_sources(diagram("review.bpmn"))
    started = runtime.start(session, "review", {}, actor)
    session.commit()
    task = open_tasks(session, started.id)[0]
    clock.set(datetime(2026, 3, 2, 1, 0, tzinfo=UTC))
    event = audit.record(session, actor=Actor(None, "x" * 200), action="task_assigned", task=task,
                         message="assigned", before={"on": date(2026, 3, 1)}, after={"ids": (1, 2)})
    session.flush()
    assert (event.instance_id, event.case_id, event.task_id, event.element) == (
        started.id, started.case_id, task.id, "enter")
    assert (len(event.actor_label), event.at) == (120, clock.now())
    assert event.data_before == {"on": "2026-03-01"} and event.data_after == {"ids": [1, 2]}


def test_record_for_a_case_without_instance_or_task(session):
    event = audit.record(session, actor=Actor.system("customer"), action="survey_answered", case_id=5,
                         element="survey", message="good")
    assert (event.instance_id, event.case_id, event.task_id, event.element) == (None, 5, None, "survey")
    assert (event.actor_id, event.actor_label, event.data_before, event.data_after) == (None, "customer", None, None)
