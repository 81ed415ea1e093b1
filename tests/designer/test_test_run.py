"""Test runs from the modeler: the diagram runs in a throwaway instance that is never stored —
each task's form filled in turn (validated like the real form), timers fired on request, the
path taken reported for the diagram — and nothing reaches an inbox."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import func, select

from app.data.models import AuditEvent, HumanTask, ProcessInstance
from tests.designer.helpers import CASE_XML

OWN = Path(__file__).parent / "corpus" / "own"


def _csrf(client) -> dict[str, str]:
    html = client.get("/designer/modeler").get_data(as_text=True)
    return {"X-CSRFToken": re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)}


def _stored(session) -> tuple[int, int, int]:
    return tuple(session.scalar(select(func.count()).select_from(model))
                 for model in (ProcessInstance, HumanTask, AuditEvent))


def test_a_test_run_goes_task_by_task_and_stores_nothing(designer, session):
    before = _stored(session)
    headers = _csrf(designer)
    xml = (OWN / "manual_and_plain_tasks.bpmn").read_text("utf-8")
    run = designer.post("/designer/test-run", json={"filename": "m.bpmn", "xml": xml, "data": {}},
                        headers=headers).get_json()
    assert run["outcome"] == "running" and run["active"] == ["inspect"]
    task, = run["tasks"]
    assert (task["element"], task["department"], task["form_key"]) == ("inspect", "quality", "confirm_done")
    assert [f["name"] for f in task["form"]["fields"]] == ["confirm_remark"]
    assert "start" in run["completed"]
    for element in ("inspect", "file_it"):
        assert run["active"] == [element]
        run = designer.post("/designer/test-run/complete", headers=headers, json={
            "filename": "m.bpmn", "xml": xml, "token": run["token"], "task_id": run["tasks"][0]["id"],
            "data": run["tasks"][0]["sample"]}).get_json()
    assert run["outcome"] == "completed"
    assert {"start", "inspect", "file_it", "end"} <= set(run["completed"])
    assert _stored(session) == before  # no instance, no inbox task, no audit trail


def test_form_data_is_validated_like_the_real_form(designer):
    headers = _csrf(designer)
    run = designer.post("/designer/test-run", json={"filename": "fc.bpmn", "xml": CASE_XML, "data": {}},
                        headers=headers).get_json()
    task = run["tasks"][0]
    bad = designer.post("/designer/test-run/complete", headers=headers, json={
        "filename": "fc.bpmn", "xml": CASE_XML, "token": run["token"], "task_id": task["id"], "data": {}})
    assert bad.status_code == 422
    assert bad.get_json()["fields"]
    good = designer.post("/designer/test-run/complete", headers=headers, json={
        "filename": "fc.bpmn", "xml": CASE_XML, "token": run["token"], "task_id": task["id"],
        "data": task["sample"]}).get_json()
    assert good["ok"] and task["element"] in good["completed"]


def test_timers_fire_on_request(designer):
    headers = _csrf(designer)
    xml = (OWN / "event_gateway_timer.bpmn").read_text("utf-8")
    run = designer.post("/designer/test-run", json={"filename": "e.bpmn", "xml": xml}, headers=headers).get_json()
    assert run["outcome"] == "running" and run["timers"] == 1 and not run["tasks"]
    assert "wait_for" in run["waiting"]
    run = designer.post("/designer/test-run/timers", headers=headers,
                        json={"filename": "e.bpmn", "xml": xml, "token": run["token"]}).get_json()
    assert run["outcome"] == "completed"
    assert {"timeout", "note_timeout", "end_timeout"} <= set(run["completed"]) and "reply" not in run["completed"]
    assert run["data"]["timed_out"] is True


def test_a_forged_state_or_a_broken_diagram_is_refused(designer):
    headers = _csrf(designer)
    xml = (OWN / "manual_and_plain_tasks.bpmn").read_text("utf-8")
    forged = designer.post("/designer/test-run/timers", headers=headers,
                           json={"filename": "m.bpmn", "xml": xml, "token": "eyJ0YXNrcyI6e319.forged"})
    assert forged.status_code == 400
    broken = designer.post("/designer/test-run", headers=headers, json={
        "filename": "m.bpmn", "xml": xml.replace('name="quality"', 'name="nobody"')})
    assert broken.status_code == 422
    assert {p["element_id"] for p in broken.get_json()["problems"]} == {"inspect", "file_it"}


def test_a_test_run_that_cannot_go_on_says_so(designer):
    headers = _csrf(designer)
    xml = (OWN / "waits_for_unsendable_message.bpmn").read_text("utf-8")
    run = designer.post("/designer/test-run", json={"filename": "w.bpmn", "xml": xml}, headers=headers).get_json()
    assert run["outcome"] == "stopped" and run["message"]
    assert "wait_reply" in run["waiting"]
