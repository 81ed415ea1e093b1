"""Who may use the designer (403 otherwise, on every route and API), the instance viewer and
API instance status, forms with a live preview, and the served bpmn-js assets."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from app.clock import clock
from app.data.models import AuditEvent, FormDefinition, ProcessInstance
from app.engine.context import Actor
from tests.conftest import ROOT, api_token, csrf_token, login
from tests.designer.helpers import VERIFY_OK, open_tasks

ACTOR = Actor(None, "test")
SAMPLE_ARGS = {"definition_id": 1, "instance_id": 1, "key": "note"}


def _designer_routes(app) -> list[tuple[str, str]]:
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("designer."):
            continue
        path = rule.rule
        for name in rule.arguments:
            path = path.replace(f"<int:{name}>", str(SAMPLE_ARGS[name])).replace(f"<{name}>", str(SAMPLE_ARGS[name]))
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            routes.append((method, path))
    return routes


def test_every_designer_route_is_403_for_other_roles(app, client):
    routes = _designer_routes(app)
    assert len(routes) >= 14
    login(client, "marketing")
    headers = {"X-CSRFToken": csrf_token(client, "/inbox/")}  # a valid token: the role check is what refuses
    for method, path in routes:
        response = client.open(path, method=method, json={} if method == "POST" else None, headers=headers)
        assert response.status_code == 403, (method, path, response.status_code)
    for username in ("manager", "auditor", "quality_head"):
        client = app.test_client()
        login(client, username)
        headers = {"X-CSRFToken": csrf_token(client, "/inbox/")}
        for method, path in routes:
            if path.startswith("/designer/instances/"):
                continue
            response = client.open(path, method=method, json={}, headers=headers)
            assert response.status_code == 403, (username, method, path)


def test_anonymous_users_are_sent_to_sign_in(client):
    response = client.get("/designer/")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_designer_and_admin_see_the_designer_and_its_nav_entry(app, client):
    login(client, "designer")
    html = client.get("/designer/").get_data(as_text=True)
    assert 'data-key="feedback_case" data-version="1"' in html and 'data-key="simple"' in html
    assert 'href="/designer/"' in html
    client = app.test_client()
    login(client, "admin")
    assert client.get("/designer/").status_code == 200
    client = app.test_client()
    login(client, "marketing")
    assert 'href="/designer/"' not in client.get("/inbox/").get_data(as_text=True)


def test_api_is_403_for_non_designers(client):
    for username in ("marketing", "quality_head", "manager"):
        headers = api_token(client, username)
        assert client.get("/api/v1/process-definitions", headers=headers).status_code == 403
        assert client.post("/api/v1/process-definitions", headers=headers,
                           json={"filename": "a.bpmn", "xml": "<x/>"}).status_code == 403
        assert client.post("/api/v1/process-definitions/simple/start", headers=headers, json={}).status_code == 403
    headers = api_token(client, "marketing")
    assert client.get("/api/v1/instances/1", headers=headers).status_code == 403
    assert client.get("/api/v1/process-definitions").status_code == 401


def test_instance_viewer_marks_completed_active_and_overdue_tasks(app, client):
    runtime = app.extensions["runtime"]
    with app.extensions["database"].transaction() as s:
        instance = runtime.start(s, "feedback_case", {}, ACTOR)
        instance_id = instance.id
        verify, = open_tasks(s, instance_id)
        runtime.complete_task(s, verify.id, VERIFY_OK, ACTOR)
        analysis, = open_tasks(s, instance_id)
        runtime.complete_task(s, analysis.id, {"responsible_departments": ["production"]}, ACTOR)
    clock.set(clock.now() + timedelta(hours=49))  # the 8D task is due after 48 h
    for username in ("manager", "auditor", "designer"):
        client = app.test_client()
        login(client, username)
        response = client.get(f"/designer/instances/{instance_id}")
        assert response.status_code == 200, username
    html = response.get_data(as_text=True)
    canvas = re.search(r'<div id="canvas"[^>]*>', html, re.S).group(0)
    assert set(re.search(r'data-completed="([^"]*)"', canvas).group(1).split()) >= {"start", "verify", "analysis"}
    assert re.search(r'data-active="([^"]*)"', canvas).group(1) == "eight_d"
    assert re.search(r'data-overdue="([^"]*)"', canvas).group(1) == "eight_d"
    assert 'data-action="process_started"' in html and 'data-action="task_completed"' in html
    assert '<script id="viewer-config" type="application/json">' in html


def test_api_instance_status_open_tasks_and_start(app, client):
    headers = api_token(client, "designer")
    started = client.post("/api/v1/process-definitions/simple/start", headers=headers, json={"data": {"note": "x"}})
    assert started.status_code == 201
    instance_id = started.get_json()["instance_id"]
    body = client.get(f"/api/v1/instances/{instance_id}", headers=api_token(client, "auditor")).get_json()
    assert body["status"] == "running" and body["process_key"] == "simple"
    assert [t["element_id"] if "element_id" in t else t.get("title") for t in body["open_tasks"]]
    assert body["open_tasks"][0]["due_at"] is not None
    assert body["incident_message"] is None
    assert client.post("/api/v1/process-definitions/nope/start", headers=headers, json={}).status_code == 404
    assert client.get("/api/v1/instances/999999", headers=headers).status_code == 404
    runtime = app.extensions["runtime"]
    with app.extensions["database"].transaction() as s:
        runtime.cancel(s, instance_id, ACTOR, "test")
    assert client.get(f"/api/v1/instances/{instance_id}", headers=headers).get_json()["status"] == "cancelled"


def test_form_preview_renders_with_the_form_macros_and_save_creates_a_version(client, app):
    login(client, "designer")
    page = client.get("/designer/forms/note")
    assert page.status_code == 200
    token = re.search(r'name="csrf-token" content="([^"]+)"', page.get_data(as_text=True)).group(1)
    headers = {"X-CSRFToken": token}
    form = {"key": "note", "title": {"zh": "备注", "en": "Note"},
            "fields": [{"name": "note", "type": "textarea", "label": {"zh": "备注<script>", "en": "Note"},
                        "required": True},
                       {"name": "level", "type": "radio", "label": {"zh": "级别", "en": "Level"},
                        "choices": [{"value": "a", "label": {"zh": "甲", "en": "A"}}]}]}
    preview = client.post("/designer/forms/preview", json={"content": form}, headers=headers)
    assert preview.status_code == 200
    html = preview.get_data(as_text=True)
    assert 'data-testid="field-note"' in html and 'data-testid="field-level"' in html
    assert "<script>" not in html and "备注&lt;script&gt;" in html
    bad = client.post("/designer/forms/preview", json={"content": {"key": "note", "fields": []}}, headers=headers)
    assert bad.status_code == 422 and 'data-testid="form-problems"' in bad.get_data(as_text=True)
    with app.extensions["database"].transaction() as s:
        before = s.query(FormDefinition).filter_by(key="note").count()
    saved = client.post("/designer/forms/note", json={"content": form}, headers=headers)
    assert saved.status_code == 200 and saved.get_json()["version"] == before + 1
    wrong = client.post("/designer/forms/note", json={"content": {**form, "key": "other"}}, headers=headers)
    assert wrong.status_code == 422
    with app.extensions["database"].transaction() as s:
        assert s.query(FormDefinition).filter_by(key="note").count() == before + 1


@pytest.mark.skipif(not (ROOT / "app/static/vendor/bpmn-js/bpmn-modeler.production.min.js").exists(),
                    reason="run `make assets` first")
def test_bpmn_js_assets_are_served_locally(client):
    for path in ("vendor/bpmn-js/bpmn-modeler.production.min.js",
                 "vendor/bpmn-js/bpmn-navigated-viewer.production.min.js",
                 "vendor/bpmn-js/diagram-js.css", "vendor/bpmn-js/bpmn-js.css",
                 "vendor/bpmn-js/bpmn-font/css/bpmn.css", "vendor/bpmn-js/bpmn-font/font/bpmn.woff2",
                 "designer/modeler.js", "designer/spiffworkflow-moddle.js", "designer/viewer.js"):
        response = client.get(f"/static/{path}")
        assert response.status_code == 200, path
        assert len(response.data) > 100
        response.close()
    login(client, "designer")
    html = client.get("/designer/modeler").get_data(as_text=True)
    assert "/static/vendor/bpmn-js/bpmn-modeler.production.min.js" in html
    assert "https://" not in re.sub(r'xmlns[^ ]*|targetNamespace="[^"]*"|http://[^"]*', "", html.split("<body")[0])


def test_instance_viewer_404_and_migrated_history(client, app):
    login(client, "designer")
    assert client.get("/designer/instances/424242").status_code == 404
    assert client.get("/designer/definitions/424242/modeler").status_code == 404
    with app.extensions["database"].transaction() as s:
        assert s.query(ProcessInstance).count() == 0
        assert s.query(AuditEvent).filter_by(action="instance_migrated").count() == 0
