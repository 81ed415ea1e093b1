"""Completing a task through the one use case (app/services/completion.py) from the task page
and the API: the same validation (file rules included) on both channels, uploads stored only
once the user is allowed and the data is valid, one workflow load per request, and the web
error mapping (app/web/errors.py) for refusals."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from app.data.models import AuditEvent, HumanTask, TaskState, User
from app.engine import codec
from app.engine.context import Actor
from app.engine.definitions.deploy import deploy
from app.services.setup import known_department_names
from tests.conftest import api_token
from tests.engine import definitions, simple_process, user_task
from tests.engine import forms as engine_forms
from tests.web.helpers import form_tokens, load_task_form, submit_task, text, user_client

EVIDENCE_FORM = {
    "key": "evidence", "title": {"zh": "证据", "en": "Evidence"},
    "fields": [
        {"name": "summary", "type": "text", "required": True, "label": {"zh": "摘要", "en": "Summary"}},
        {"name": "photo", "type": "file", "required": True, "label": {"zh": "照片", "en": "Photo"}},
        {"name": "sheets", "type": "files", "max_files": 2, "label": {"zh": "记录表", "en": "Sheets"}},
    ],
}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def _upload(name: str, content: bytes = PNG):
    return io.BytesIO(content), name


@pytest.fixture
def evidence(app):
    """Starts a process whose Marketing task has a form with a required file and a files
    field; returns a function giving the open task's id (``data``: the start data).
    ``checked_proc`` has a Marketing ``report`` first, and its evidence task is an approval
    (8D kind) of that report, so whoever wrote the report may not complete it (four-eyes)."""
    collect = user_task("collect", "收集证据", formKey="evidence", department="marketing")
    checked = user_task("collect", "核对证据", formKey="evidence", department="marketing", approval="eight_d",
                        submittedBy="report")
    report = user_task("report", "报告", formKey="note", department="marketing")
    with app.extensions["database"].transaction() as session:
        deploy(session, {
            "evidence.bpmn": definitions(simple_process("evidence_proc", collect, ["collect"])),
            "checked.bpmn": definitions(simple_process("checked_proc", report + checked, ["report", "collect"]),
                                        def_id="Checked"),
        }, {"evidence": EVIDENCE_FORM, "note": engine_forms()["note"]},
            known_departments=known_department_names(session))

    def start(data: dict | None = None, process: str = "evidence_proc") -> str:
        with app.app_context(), app.extensions["database"].transaction() as session:
            instance = app.extensions["runtime"].start(session, process, data or {}, Actor(None, "test"))
            session.flush()
            return session.scalars(select(HumanTask.id).where(HumanTask.instance_id == instance.id)).one()

    return start


def _stored_files(app) -> list[Path]:
    folder = Path(app.config["UPLOAD_DIR"])
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.exists() else []


def _task(database, task_id: str) -> HumanTask:
    with database.session() as s:
        return s.get(HumanTask, task_id)


def _completions(database, task_id: str) -> int:
    with database.session() as s:
        return len(s.scalars(select(AuditEvent).where(AuditEvent.task_id == task_id,
                                                      AuditEvent.action == "task_completed")).all())


def _field_errors(page: str) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for name, message in re.findall(r'data-testid="field-error" data-field="([^"]+)">([^<]*)<', page):
        errors.setdefault(name, []).append(message)
    return errors


def _api_complete(client, headers, task_id: str, data: dict, files=(), **parts):
    """POST /api/v1/tasks/<id>/complete as multipart/form-data: ``data`` as JSON text plus files."""
    fields = MultiDict([("data", json.dumps(data, ensure_ascii=False)), *parts.items(), *files])
    return client.post(f"/api/v1/tasks/{task_id}/complete", data=fields, headers=headers,
                       content_type="multipart/form-data")


def test_forbidden_completion_shows_the_403_page_and_stores_nothing(app, database, evidence):
    task_id = evidence()
    auditor = user_client(app, "auditor")  # may see every task, but act on none
    tokens = load_task_form(auditor, task_id)
    response = auditor.post(f"/tasks/{task_id}", data={
        **tokens, "summary": "看过了", "photo": _upload("photo.png"), "sheets": [_upload("a.png")]},
        content_type="multipart/form-data")
    assert response.status_code == 403
    assert "您无权处理此任务。" in text(response)
    assert _stored_files(app) == []
    assert _task(database, task_id).state == TaskState.OPEN and _completions(database, task_id) == 0


def test_four_eyes_refusal_comes_before_any_upload_is_stored(app, database, evidence):
    report = evidence(process="checked_proc")
    marketing = user_client(app, "marketing")
    assert submit_task(marketing, report, {"note": "我写的报告"}).status_code == 302
    with database.session() as s:
        collect = s.scalars(select(HumanTask.id).where(HumanTask.element_id == "collect",
                                                       HumanTask.state == TaskState.OPEN)).one()
    tokens = load_task_form(marketing, collect)
    response = marketing.post(f"/tasks/{collect}", data={**tokens, "summary": "自己核对", "photo": _upload("p.png")},
                              content_type="multipart/form-data")
    assert response.status_code == 403
    assert "四眼" in text(response)
    assert _stored_files(app) == []
    assert _task(database, collect).state == TaskState.OPEN and _completions(database, collect) == 0


def test_invalid_upload_is_refused_identically_by_the_page_and_the_api(app, client, database, evidence):
    task_id = evidence()
    marketing = user_client(app, "marketing")
    three = [_upload("a.png"), _upload("b.png", PNG + b"b"), _upload("c.png", PNG + b"c")]
    page = marketing.post(f"/tasks/{task_id}", data={**load_task_form(marketing, task_id), "summary": "三张表",
                                                      "sheets": three}, content_type="multipart/form-data")
    assert page.status_code == 422
    page_errors = _field_errors(text(page))
    assert page_errors == {"photo": ["请选择文件。"], "sheets": ["最多上传 2 个文件。"]}
    assert "三张表" in text(page)  # what was typed is kept

    headers = api_token(client, "marketing")
    api = _api_complete(client, headers, task_id, {"summary": "三张表"},
                        [("sheets", _upload("a.png")), ("sheets", _upload("b.png", PNG + b"b")),
                         ("sheets", _upload("c.png", PNG + b"c"))])
    assert api.status_code == 422, api.get_json()
    assert api.get_json()["error"]["fields"] == page_errors

    json_api = client.post(f"/api/v1/tasks/{task_id}/complete", json={"data": {"summary": "没有照片"}},
                           headers=headers)
    assert json_api.status_code == 422 and json_api.get_json()["error"]["fields"] == {"photo": ["请选择文件。"]}
    # only the page keeps what it received (up to the field's limit) for the next try; the API stores nothing
    assert "已上传：a.png" in text(page) and "已上传：b.png" in text(page) and "已上传：c.png" not in text(page)
    assert len(_stored_files(app)) == 2
    assert _task(database, task_id).state == TaskState.OPEN and _completions(database, task_id) == 0


def test_uploads_through_the_api_are_stored_with_the_task_data(app, client, database, evidence):
    task_id = evidence()
    headers = api_token(client, "marketing")
    response = _api_complete(client, headers, task_id, {"summary": "照片已附"},
                             [("photo", _upload("现场.png")), ("sheets", _upload("表.png", PNG + b"s"))],
                             submit_token="api-upload-1")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "completed"
    with database.session() as s:
        [event] = s.scalars(select(AuditEvent).where(AuditEvent.task_id == task_id,
                                                     AuditEvent.action == "task_completed")).all()
    photo, sheets = event.data_after["photo"], event.data_after["sheets"]
    assert photo["name"] == "现场.png" and [f["name"] for f in sheets] == ["表.png"]
    assert {p.name for p in _stored_files(app)} == {photo["sha256"], sheets[0]["sha256"]}


def test_a_file_the_task_already_has_satisfies_the_required_field_on_both_channels(app, client, database, evidence):
    known = {"id": "a" * 64, "sha256": "a" * 64, "name": "旧照片.png", "size": 10, "content_type": "image/png"}
    by_page, by_api = evidence({"photo": known}), evidence({"photo": known})
    marketing = user_client(app, "marketing")
    assert submit_task(marketing, by_page, {"summary": "沿用"}).status_code == 302
    response = client.post(f"/api/v1/tasks/{by_api}/complete", json={"data": {"summary": "沿用"}},
                           headers=api_token(client, "marketing"))
    assert response.status_code == 200, response.get_json()
    with database.session() as s:
        for task_id in (by_page, by_api):
            event = s.scalars(select(AuditEvent).where(AuditEvent.task_id == task_id,
                                                       AuditEvent.action == "task_completed")).one()
            assert event.data_after["photo"] == known and event.data_after["sheets"] == []


@pytest.fixture
def loads(monkeypatch):
    """Counts workflow deserializations (the real codec.loads runs)."""
    calls = []
    original = codec.loads

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(codec, "loads", counting)
    return calls


def test_a_completion_loads_the_workflow_once(app, client, database, evidence, loads):
    page_task, api_task = evidence(), evidence()
    marketing = user_client(app, "marketing")
    tokens = load_task_form(marketing, page_task)
    loads.clear()
    response = marketing.post(f"/tasks/{page_task}", data={**tokens, "summary": "一次", "photo": _upload("p.png")},
                              content_type="multipart/form-data")
    assert response.status_code == 302 and _task(database, page_task).state == TaskState.COMPLETED
    assert len(loads) == 1

    headers = api_token(client, "marketing")
    loads.clear()
    response = _api_complete(client, headers, api_task, {"summary": "一次"}, [("photo", _upload("p.png"))])
    assert response.status_code == 200 and len(loads) == 1


def test_stale_submit_flashes_and_returns_to_the_page_it_came_from(app, database, evidence):
    task_id = evidence()
    first, second = user_client(app, "marketing"), user_client(app, "marketing_head")
    tokens_first, tokens_second = load_task_form(first, task_id), load_task_form(second, task_id)
    data = {"summary": "先到", "photo": _upload("p.png")}
    assert second.post(f"/tasks/{task_id}", data={**tokens_second, **data},
                       content_type="multipart/form-data").status_code == 302
    stored = _stored_files(app)
    response = first.post(f"/tasks/{task_id}", data={**tokens_first, "summary": "迟到", "photo": _upload(
        "late.png", PNG + b"late")}, content_type="multipart/form-data",
        headers={"Referer": f"http://localhost/tasks/{task_id}"})
    assert response.status_code == 302 and response.headers["Location"] == f"/tasks/{task_id}"
    page = text(first.get(response.headers["Location"]))
    assert "此任务已被其他人完成。未保存任何内容。" in page and 'data-testid="task-closed"' in page
    assert _stored_files(app) == stored  # the late upload was not kept
    assert _completions(database, task_id) == 1
    # a referrer on another site is not followed
    again = first.post(f"/tasks/{task_id}", data={**form_tokens(page), "summary": "再来"},
                       headers={"Referer": "https://evil.example/x"})
    assert again.status_code == 302 and again.headers["Location"] == "/inbox/"


def test_refusals_on_a_get_show_the_error_page(app, database, evidence):
    task_id = evidence()
    production = user_client(app, "production")
    page = production.get(f"/tasks/{task_id}")
    assert page.status_code == 403 and "您无权查看此任务。" in text(page)
    assert production.get("/tasks/nope").status_code == 404
    missing = production.get("/tasks/nope", headers={"Accept": "application/json"})
    assert missing.status_code == 404 and missing.get_json()["message"]


def test_delegated_upload_is_kept_by_the_final_check_and_a_refused_delegate_stores_nothing(
        app, database, evidence, loads):
    task_id = evidence()
    head, marketing = user_client(app, "marketing_head"), user_client(app, "marketing")
    csrf = form_tokens(text(head.get("/inbox/")))["csrf_token"]
    head.post(f"/inbox/{task_id}/claim", data={"csrf_token": csrf})
    with database.session() as s:
        delegate_id = s.scalars(select(User.id).where(User.username == "marketing")).one()
    head.post(f"/inbox/{task_id}/delegate", data={"delegate_id": delegate_id, "csrf_token": csrf})

    # the delegate saves the work with a photo: validated and stored, the task stays open
    tokens = form_tokens(text(marketing.get(f"/inbox/{task_id}/work")))
    invalid = marketing.post(f"/inbox/{task_id}/work", data={**tokens, "summary": "缺照片"},
                             content_type="multipart/form-data")
    assert invalid.status_code == 422 and _field_errors(text(invalid)) == {"photo": ["请选择文件。"]}
    saved = marketing.post(f"/inbox/{task_id}/work", data={**tokens, "summary": "专员整理",
                                                           "photo": _upload("现场.png")},
                           content_type="multipart/form-data")
    assert saved.status_code == 302 and _task(database, task_id).state == TaskState.OPEN
    [photo_file] = _stored_files(app)
    # saving again is refused (the task is back with the delegator): nothing more is stored
    again = marketing.post(f"/inbox/{task_id}/work", data={**tokens, "summary": "再存", "photo": _upload(
        "another.png", PNG + b"x")}, content_type="multipart/form-data")
    assert again.status_code == 302 and _stored_files(app) == [photo_file]

    # the final check leaves the file input empty: the delegate's photo is what is completed
    page = text(head.get(f"/inbox/{task_id}/work"))
    assert "现场.png" in page
    loads.clear()
    done = head.post(f"/inbox/{task_id}/work", data={**form_tokens(page), "summary": "主管复核"},
                     content_type="multipart/form-data")
    assert done.status_code == 302 and len(loads) == 1
    with database.session() as s:
        event = s.scalars(select(AuditEvent).where(AuditEvent.task_id == task_id,
                                                   AuditEvent.action == "task_completed")).one()
    assert event.data_after["summary"] == "主管复核" and event.data_after["photo"]["sha256"] == photo_file.name


def test_staff_uploads_are_judged_by_content_and_served_with_the_server_type(app, client, database, evidence):
    """A page disguised as a photo is refused on both channels; a real image sent with a false
    type is stored and served as what it is."""
    task_id = evidence()
    marketing = user_client(app, "marketing")
    disguised = b"<html><script>alert(1)</script></html>"
    page = marketing.post(f"/tasks/{task_id}", data={**load_task_form(marketing, task_id), "summary": "伪装",
                                                      "photo": (io.BytesIO(disguised), "photo.png", "image/png")},
                          content_type="multipart/form-data")
    assert page.status_code == 422
    assert "不是可接受的文件" in _field_errors(text(page))["photo"][0]
    headers = api_token(client, "marketing")
    api = _api_complete(client, headers, task_id, {"summary": "伪装"}, [("photo", _upload("x.svg", b"<svg/>"))])
    assert api.status_code == 422 and "photo" in api.get_json()["error"]["fields"]
    assert _stored_files(app) == [] and _task(database, task_id).state == TaskState.OPEN

    real = _api_complete(client, headers, task_id, {"summary": "真图"},
                         [("photo", (io.BytesIO(PNG), "真图.png", "text/html"))], submit_token="typed-1")
    assert real.status_code == 200, real.get_json()
    with database.session() as s:
        [event] = s.scalars(select(AuditEvent).where(AuditEvent.task_id == task_id,
                                                     AuditEvent.action == "task_completed")).all()
    assert event.data_after["photo"]["content_type"] == "image/png"
