"""New versions while old instances run on, diffs between versions, and migrating instances."""

from __future__ import annotations

import re

from sqlalchemy import select

from app.data.models import AuditEvent, InstanceStatus, ProcessDefinition, ProcessInstance
from app.engine.context import Actor
from app.engine.definitions.lookup import latest_definition
from app.services import designer as service
from tests.conftest import api_token
from tests.designer.helpers import (
    VERIFY_OK,
    open_tasks,
    renamed,
    rerouted_analysis,
    with_extra_step,
    without_analysis,
)

ACTOR = Actor(None, "test")


def _start_at_analysis(app) -> int:
    """A feedback_case instance (v1) waiting at the analysis task."""
    runtime = app.extensions["runtime"]
    with app.extensions["database"].transaction() as s:
        instance = runtime.start(s, "feedback_case", {}, ACTOR)
        verify, = open_tasks(s, instance.id)
        runtime.complete_task(s, verify.id, VERIFY_OK, ACTOR)
        return instance.id


def _deploy(client, xml: str) -> dict:
    response = client.post("/api/v1/process-definitions", headers=api_token(client, "designer"),
                           json={"filename": "feedback_case.bpmn", "xml": xml})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["definitions"][0]


def _finish(app, instance_id: int) -> ProcessInstance:
    """Work the instance through to its end; returns it."""
    runtime = app.extensions["runtime"]
    answers = {"analysis": {"responsible_departments": ["production", "purchasing"]},
               "eight_d": {"root_cause": "焊接不良", "cost": "100"},
               "close": {"customer_reply": "已回复"}}
    for _ in range(10):
        with app.extensions["database"].transaction() as s:
            tasks = open_tasks(s, instance_id)
            if not tasks:
                return s.get(ProcessInstance, instance_id)
            for task in tasks:
                runtime.complete_task(s, task.id, answers[task.element_id], ACTOR)
    raise AssertionError("the instance did not finish")


def test_new_version_while_old_instances_continue_on_theirs(app, client, session):
    old_id = _start_at_analysis(app)
    v2 = _deploy(client, renamed())
    assert v2["version"] == 2
    with app.extensions["database"].transaction() as s:  # a new case starts on the live version
        new_id = app.extensions["runtime"].start(s, "feedback_case", {"source": "api"}, ACTOR).id
    session.expire_all()
    assert session.get(ProcessInstance, old_id).definition.version == 1
    assert session.get(ProcessInstance, new_id).definition.version == 2
    old = _finish(app, old_id)
    assert old.status == InstanceStatus.COMPLETED
    assert old.definition.version == 1
    titles = {e.message for e in session.scalars(select(AuditEvent).where(AuditEvent.instance_id == old_id))}
    assert "初步分析" in titles and "初步分析(新)" not in titles  # the old instance ran the old diagram


def test_diff_lists_added_removed_and_changed_elements(app, client, session):
    v1 = latest_definition(session, "feedback_case")
    v2 = _deploy(client, with_extra_step(renamed()))
    v3 = _deploy(client, without_analysis())
    _old, _new, changes = service.diff(session, v1.id, v2["id"])
    assert set(changes.added) == {"extra", "f5b"}
    assert changes.removed == []
    assert changes.changed["analysis"] == ["bpmn_name"]
    assert "outputs" in changes.changed["eight_d"] and "inputs" in changes.changed["close"]
    assert changes.changed["f5"] == ["targetRef"]
    _old, _new, changes = service.diff(session, v1.id, v3["id"])
    assert "analysis" in changes.removed and "f4" in changes.removed
    assert changes.changed["f_yes"] == ["targetRef"]
    assert "extra" not in changes.added

    from tests.conftest import login

    login(client, "designer")
    html = client.get(f"/designer/diff?from={v1.id}&to={v2['id']}").get_data(as_text=True)
    assert 'data-change="added" data-element-id="extra"' in html
    assert 'data-change="changed" data-element-id="analysis"' in html
    assert re.search(r'<script id="diff-config" type="application/json">\{', html)


def test_migration_preview_refuses_unsafe_and_migrates_safe_instances(app, client, session):
    instance_id = _start_at_analysis(app)
    unsafe = _deploy(client, without_analysis())
    rerouted = _deploy(client, rerouted_analysis())
    safe = _deploy(client, with_extra_step(renamed()))
    v1 = session.get(ProcessInstance, instance_id).definition
    runtime = app.extensions["runtime"]

    plans = service.migration_preview(session, runtime, v1, session.get(ProcessDefinition, unsafe["id"]))
    plan, = plans
    assert plan.instance_id == instance_id and not plan.safe
    assert any("analysis" in r and "removed" in r for r in plan.reasons)
    assert [(t.element_id, t.change) for t in plan.tasks] == [("analysis", "removed")]

    plan, = service.migration_preview(session, runtime, v1, session.get(ProcessDefinition, rerouted["id"]))
    assert not plan.safe and any("formKey" in r for r in plan.reasons)

    plan, = service.migration_preview(session, runtime, v1, session.get(ProcessDefinition, safe["id"]))
    assert plan.safe, plan.reasons
    assert [(t.element_id, t.change, t.attributes) for t in plan.tasks] == [("analysis", "changed", ["bpmn_name"])]

    from tests.conftest import csrf_token, login

    login(client, "designer")
    page = client.get(f"/designer/definitions/{v1.id}/migrate?to={unsafe['id']}").get_data(as_text=True)
    assert f'data-instance="{instance_id}" data-safe="no"' in page
    token = csrf_token(client, f"/designer/definitions/{v1.id}/migrate?to={unsafe['id']}")
    refused = client.post(f"/designer/definitions/{v1.id}/migrate",
                          data={"to": unsafe["id"], "instance": str(instance_id), "csrf_token": token},
                          follow_redirects=True)
    assert "analysis" in refused.get_data(as_text=True)
    session.expire_all()
    assert session.get(ProcessInstance, instance_id).definition_id == v1.id
    assert not session.scalars(select(AuditEvent).where(AuditEvent.action == "instance_migrated")).first()

    page = client.get(f"/designer/definitions/{v1.id}/migrate?to={safe['id']}").get_data(as_text=True)
    assert f'data-instance="{instance_id}" data-safe="yes"' in page
    done = client.post(f"/designer/definitions/{v1.id}/migrate",
                       data={"to": safe["id"], "instance": str(instance_id), "csrf_token": token})
    assert done.status_code == 302
    session.expire_all()
    instance = session.get(ProcessInstance, instance_id)
    assert instance.definition_id == safe["id"]
    task, = open_tasks(session, instance_id)
    assert (task.element_id, task.title) == ("analysis", "初步分析(新)")  # the projection shows the new version
    event, = session.scalars(select(AuditEvent).where(AuditEvent.action == "instance_migrated"))
    assert event.instance_id == instance_id
    assert event.data_before["version"] == 1 and event.data_after["version"] == safe["version"]
    assert event.actor_label == "流程设计师"

    finished = _finish(app, instance_id)
    assert finished.status == InstanceStatus.COMPLETED
    session.expire_all()
    assert runtime.instance_data(session, instance_id).get("extra_done") is True  # the new step ran


def test_migrating_a_multi_instance_in_progress_keeps_each_department(app, client, session):
    instance_id = _start_at_analysis(app)
    runtime = app.extensions["runtime"]
    with app.extensions["database"].transaction() as s:
        analysis, = open_tasks(s, instance_id)
        runtime.complete_task(s, analysis.id, {"responsible_departments": ["production", "purchasing"]}, ACTOR)
    before = {(t.id, t.department_id) for t in open_tasks(session, instance_id)}
    assert len(before) == 2
    target = _deploy(client, with_extra_step())
    with app.extensions["database"].transaction() as s:
        plan = service.migration.migrate_instance(s, runtime, instance_id, s.get(ProcessDefinition, target["id"]),
                                                  ACTOR)
        assert plan.safe
    session.expire_all()
    assert {(t.id, t.department_id) for t in open_tasks(session, instance_id)} == before
    finished = _finish(app, instance_id)
    assert finished.status == InstanceStatus.COMPLETED
    session.expire_all()
    assert runtime.instance_data(session, instance_id).get("extra_done") is True
