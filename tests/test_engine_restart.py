"""Instances survive a process restart: state saved without the spec, loaded onto a fresh parse."""

from pathlib import Path

from sqlalchemy import select

from app.data.models import HumanTask, InstanceStatus, ProcessInstance, TaskState
from app.engine.context import Actor
from app.engine.parser import spec_cache
from app.engine.runtime import WorkflowRuntime
from app.services.setup import deploy_folder, seed_demo

FIXTURES = Path(__file__).parent / "fixtures"
ACTOR = Actor(None, "test")


def _open(session, element):
    return session.scalars(
        select(HumanTask).where(HumanTask.element_id == element, HumanTask.state == TaskState.OPEN)
    ).all()


def test_multi_instance_loop_completes_after_a_restart(database):
    runtime = WorkflowRuntime()
    with database.transaction() as session:
        seed_demo(session)
        deploy_folder(session, FIXTURES / "bpmn", FIXTURES / "forms")
        instance_id = runtime.start(session, "feedback_case", {"customer_name": "A"}, ACTOR).id
    with database.transaction() as session:
        runtime.complete_task(session, _open(session, "verify")[0].id,
                              {"info_complete": "yes", "measures": [{"action": "swap"}]}, ACTOR)
    with database.transaction() as session:
        runtime.complete_task(session, _open(session, "analysis")[0].id,
                              {"responsible_departments": ["production", "purchasing"]}, ACTOR)
    with database.transaction() as session:
        eight_d = _open(session, "eight_d")
        assert len(eight_d) == 2
        ids = [task.id for task in eight_d]
    for task_id in ids:
        spec_cache.clear()  # a restarted process parses the definition afresh
        with database.transaction() as session:
            runtime.complete_task(session, task_id, {"root_cause": "worn part"}, ACTOR)
    with database.transaction() as session:
        assert len(_open(session, "close")) == 1
        assert session.get(ProcessInstance, instance_id).status == InstanceStatus.RUNNING
