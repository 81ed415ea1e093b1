"""An instance saved by another serializer version is refused unless a migration for it exists."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import update

from app.data.models import HumanTask, ProcessInstance, TaskState
from app.engine import codec
from app.engine.errors import UnsupportedSaveFormat
from tests.engine import one_task_process, open_tasks


def _start(session, runtime, actor, deploy_sources):
    deploy_sources({"one_task.bpmn": one_task_process()})
    instance = runtime.start(session, "one_task", {}, actor)
    session.commit()
    return instance, open_tasks(session, instance.id)[0]


def _resave_as(session, instance, version: str, row_version: str | None = None) -> None:
    state = json.loads(instance.state)
    state["serializer_version"] = version
    session.execute(update(ProcessInstance).where(ProcessInstance.id == instance.id).values(
        state=json.dumps(state), serializer_version=row_version or version))
    session.commit()


@pytest.mark.parametrize(("content", "row"), [("9.9", "9.9"), ("2.0", "2.0"), (codec.SERIALIZER_VERSION, "1.4")])
def test_a_save_from_an_unknown_or_disagreeing_version_is_refused_and_left_alone(
        session, runtime, actor, deploy_sources, content, row):
    instance, task = _start(session, runtime, actor, deploy_sources)
    _resave_as(session, instance, content, row)
    before = session.get(ProcessInstance, instance.id).state
    with pytest.raises(UnsupportedSaveFormat) as refused:
        runtime.complete_task(session, task.id, {"note": "x"}, actor)
    session.rollback()
    assert "no migration" in refused.value.message
    assert refused.value.details["found"] == content and refused.value.details["supported"] == codec.SERIALIZER_VERSION
    assert session.get(ProcessInstance, instance.id).state == before
    assert session.get(HumanTask, task.id).state == TaskState.OPEN


def test_versions_with_a_library_migration_are_readable():
    assert codec.readable(codec.SERIALIZER_VERSION)
    assert all(codec.readable(v) for v in ("1.0", "1.1", "1.2", "1.3", "1.4"))
    assert not codec.readable("1.6") and not codec.readable(None)


def test_the_api_answers_a_refused_save_with_a_clear_conflict(client, database):
    from tests.api.helpers import VERIFY_OK, auth, case_detail, complete, create_case

    headers = auth(client, "marketing", lang="en")
    case = create_case(client, headers)
    [task] = case_detail(client, headers, case["id"])["open_tasks"]
    with database.transaction() as session:
        instance = session.get(ProcessInstance, session.get(HumanTask, task["id"]).instance_id)
        state = json.loads(instance.state)
        state["serializer_version"] = "9.9"
        instance.state, instance.serializer_version = json.dumps(state), "9.9"
    answer = complete(client, headers, task["id"], VERIFY_OK)
    assert answer.status_code == 409, answer.get_json()
    error = answer.get_json()["error"]
    assert error["code"] == "unsupported_save_format" and "no migration" in error["message"]
    with database.session() as session:
        assert session.get(HumanTask, task["id"]).state == TaskState.OPEN
