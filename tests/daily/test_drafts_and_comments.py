"""Issue 13 items 6 and 12 over HTTP: a draft of a task's form per user (saved unvalidated,
restored, private, gone on completion), the form's sections, and comments on a case with
@mentions that notify (in the app and by e-mail), in the timeline and the audit trail."""

from __future__ import annotations

import re

from sqlalchemy import select

from app.data.models import AuditEvent, EmailOutbox, Notification, TaskDraft, User
from app.formkit.definition import validate_definition
from tests.process_http.conftest import flow, form_fields, prod_app  # noqa: F401 - fixtures
from tests.process_http.payloads import EIGHT_D, analysis, intake, verify_ok
from tests.web.helpers import text


def csrf(page: str) -> str:
    """The page's CSRF token (from whichever form carries it first)."""
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', page)
    assert match, "no CSRF token"
    return match.group(1)


def _report_task(flow):  # noqa: F811
    case_id = flow.open_case(**intake())
    flow.verify(case_id, verify_ok())
    flow.complete("quality", "preliminary", analysis(), case_id)
    return case_id, flow.find("production", "report", case_id)


def _save_draft(client, task_id: str, values: dict):
    fields = form_fields(values)
    fields.add("csrf_token", csrf(client.get("/inbox/").get_data(as_text=True)))
    return client.post(f"/tasks/{task_id}/draft", data=fields)


def test_a_draft_is_saved_without_validation_restored_private_and_gone_on_completion(flow):  # noqa: F811
    case_id, task = _report_task(flow)
    client = flow.client("production")
    page = text(client.get(f"/tasks/{task['id']}"))
    assert 'data-testid="section-nav"' in page and 'href="#section-d4"' in page and 'id="section-d4"' in page
    response = _save_draft(client, task["id"], {"d2_what": "外壳裂纹（草稿）", "d2_how_many": "not a number"})
    assert response.status_code == 302
    page = text(client.get(f"/tasks/{task['id']}"))
    assert 'data-testid="draft-restored"' in page
    assert "外壳裂纹（草稿）" in page and 'value="not a number"' in page
    # the head of Production sees the task, but not the draft of their colleague
    assert "外壳裂纹（草稿）" not in text(flow.client("production_head").get(f"/tasks/{task['id']}"))
    # someone who may not work on the task cannot keep a draft of it
    assert _save_draft(flow.client("quality"), task["id"], {"d2_what": "x"}).status_code == 403
    flow.complete("production", "report", EIGHT_D, case_id)
    with flow.database.transaction() as session:
        assert session.scalars(select(TaskDraft)).all() == []


def test_sections_are_checked_in_the_definition():
    base = {"key": "f", "title": "T", "fields": [{"name": "a", "type": "text", "label": "A"}]}
    assert validate_definition({**base, "sections": [{"id": "s1", "title": "S", "from": "a"}]}) == []
    assert validate_definition({**base, "sections": [{"id": "s1", "title": "S", "from": "zzz"}]})
    assert validate_definition({**base, "fields": [{"name": "a", "type": "files", "label": "A",
                                                   "accept": ["exe"]}]})
    assert validate_definition({**base, "fields": [{"name": "a", "type": "files", "label": "A",
                                                   "accept": ["jpg", "png"], "max_mb": 5}]}) == []


def _comment(client, case_id: int, body: str, visibility: str = "internal"):
    page = client.get("/inbox/").get_data(as_text=True)
    return client.post(f"/cases/{case_id}/comments", data={"body": body, "visibility": visibility,
                                                           "csrf_token": csrf(page)})


def test_a_comment_with_mentions_notifies_is_in_the_timeline_and_audited(flow):  # noqa: F811
    case_id = flow.open_case(**intake())
    marketing = flow.client("marketing")
    # quality sees every case; warehouse has no task on it and is not notified
    response = _comment(marketing, case_id, "@quality 请确认批次 @warehouse @nobody。")
    assert response.status_code == 302
    page = text(marketing.get(response.headers["Location"]))
    assert "已通知：" in page and "未通知" in page and "@warehouse" in page and "@nobody" in page
    assert "请确认批次" in page and 'data-testid="comment-internal"' in page
    with flow.database.transaction() as session:
        quality = session.scalar(select(User).where(User.username == "quality"))
        notes = session.scalars(select(Notification).where(Notification.kind == "mention")).all()
        assert [n.user_id for n in notes] == [quality.id] and notes[0].case_id == case_id
        mail = session.scalar(select(EmailOutbox).where(EmailOutbox.notification_id == notes[0].id))
        if quality.email:
            assert "在案件" in mail.subject and f"/cases/{case_id}" in mail.body
        event = session.scalar(select(AuditEvent).where(AuditEvent.action == "case_comment"))
        assert event.case_id == case_id and event.data_after["mentions"] == ["quality"]
    # the mentioned user opens the notification and lands on the case
    quality_client = flow.client("quality")
    opened = quality_client.get(f"/notifications/{notes[0].id}/open")
    assert opened.status_code == 302 and opened.headers["Location"].endswith(f"/cases/{case_id}")
    # a user who may not see the case may not comment either
    assert _comment(flow.client("warehouse"), case_id, "hi").status_code == 403
    assert _comment(marketing, case_id, "   ").status_code == 302  # refused with a message, no 500


def test_comments_over_the_api(flow):  # noqa: F811
    case_id = flow.open_case(**intake())
    client, headers = flow.client("marketing"), flow.headers("marketing")
    response = client.post(f"/api/v1/cases/{case_id}/comments", json={"body": "@quality 看一下", "internal": False},
                           headers=headers)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["mentions"] == ["quality"] and response.get_json()["internal"] is False
    listed = client.get(f"/api/v1/cases/{case_id}/comments", headers=headers).get_json()["comments"]
    assert [c["body"] for c in listed] == ["@quality 看一下"]
    for bad in ({"body": ""}, {"body": 1}, {"body": "x", "internal": "yes"}, {"body": "x", "extra": 1}):
        assert client.post(f"/api/v1/cases/{case_id}/comments", json=bad, headers=headers).status_code == 422
    warehouse = flow.headers("warehouse")
    assert client.get(f"/api/v1/cases/{case_id}/comments", headers=warehouse).status_code == 403
    assert client.get("/api/v1/cases/999999/comments", headers=headers).status_code == 404
