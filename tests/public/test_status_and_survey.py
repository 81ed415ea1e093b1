"""The status link: public status, the information-request loop answered by the customer,
unknown tokens; the satisfaction survey (only after closing, once, shown on the case page)."""

from __future__ import annotations

import io

from sqlalchemy import func, select

from app.data.models import AuditEvent, Case, HumanTask, SurveyResponse
from tests.conftest import login
from tests.public.helpers import (
    EN,
    EXE,
    PNG,
    complete_as,
    csrf,
    open_task,
    post_feedback,
    submit_token,
    text,
    token_from_location,
)

VERIFY_NO = {
    "info_complete": "no",
    "missing_info": "INTERNAL-缺少照片和序列号核对",
    "verified_description": "INTERNAL-核实描述",
    "temporary_measures": [{"measure": "INTERNAL-临时措施", "owner": "marketing", "due_date": None}],
}
QUESTION = "请提供故障机器铭牌照片和购买日期。"


def _new_case(client, database, **overrides) -> tuple[int, str]:
    token = token_from_location(post_feedback(client, **overrides))
    with database.transaction() as session:
        case_id = session.scalars(select(Case.id).where(Case.public_token == token)).one()
    return case_id, token


def _status(client, token: str, headers=None):
    response = client.get(f"/status/{token}", headers=headers or EN)
    assert response.status_code == 200
    return text(response)


def test_unknown_token_is_404(prod_app, client):
    for token in ("nope", "x" * 32, "x" * 200):
        response = client.get(f"/status/{token}", headers=EN)
        assert response.status_code == 404
        assert "We could not find this case" in text(response)
        assert client.get(f"/survey/{token}").status_code == 404
        assert client.get(f"/feedback/received/{token}").status_code == 404


def test_status_page_shows_status_and_hides_internals(prod_app, client, database):
    case_id, token = _new_case(client, database)
    page = _status(client, token)
    with database.transaction() as session:
        number = session.get(Case, case_id).number
    assert number in page
    assert 'data-status="received"' in page and "Feedback received" in page
    assert 'data-testid="reply-form"' not in page and 'data-testid="survey-link"' not in page
    assert "li@example.com" not in page and "13900000000" not in page  # contact data stays internal

    complete_as(prod_app, database, case_id, "verify", VERIFY_NO, "marketing")
    page = _status(client, token)
    assert 'data-status="in_progress"' in page  # the question is not asked yet
    assert "INTERNAL" not in page


def test_information_request_answered_through_the_status_link(prod_app, client, database):
    case_id, token = _new_case(client, database)
    complete_as(prod_app, database, case_id, "verify", VERIFY_NO, "marketing")
    complete_as(prod_app, database, case_id, "info_request", {"question": QUESTION, "request_channel": "email"},
                "marketing")

    page = _status(client, token)
    assert 'data-status="waiting"' in page and "Waiting for your information" in page
    assert QUESTION in page and 'data-testid="reply-form"' in page
    assert "INTERNAL" not in page

    # an empty answer or a wrong file: per-field errors, the task stays open
    raw = client.get(f"/status/{token}").get_data(as_text=True)
    bad = client.post(f"/status/{token}", headers=EN, content_type="multipart/form-data", data={
        "csrf_token": csrf(raw), "submit_token": submit_token(raw), "reply_text": " ",
        "files": [(io.BytesIO(EXE), "virus.exe")]})
    assert bad.status_code == 422, text(bad)[-3000:]
    assert 'data-field="reply_text"' in bad.get_data(as_text=True) and "“virus.exe”" in text(bad)
    with database.transaction() as session:
        reply_task = open_task(session, case_id, "customer_reply")

    response = client.post(f"/status/{token}", content_type="multipart/form-data", data={
        "csrf_token": csrf(raw), "submit_token": submit_token(raw), "reply_text": "铭牌照片见附件,2026年9月购买。",
        "files": [(io.BytesIO(PNG), "铭牌.png")]})
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/status/{token}?sent=1")

    with database.transaction() as session:
        done = session.get(HumanTask, reply_task.id)
        assert done.state == "completed" and done.completed_by_id is None
        event = session.scalars(select(AuditEvent).where(
            AuditEvent.case_id == case_id, AuditEvent.element == "customer_reply")).one()
        assert event.actor_label == "customer" and event.action == "task_completed"
        assert event.data_after["reply_text"] == "铭牌照片见附件,2026年9月购买。"
        assert event.data_after["reply_received_at"]
        assert event.data_after["reply_attachments"][0]["content_type"] == "image/png"
        assert event.data_after["reply_attachments"][0]["name"] == "铭牌.png"
        verify_again = open_task(session, case_id, "verify")  # the case moves on: verify again
        assert verify_again.id != reply_task.id

    page = _status(client, token)
    assert 'data-status="in_progress"' in page and 'data-testid="reply-form"' not in page
    assert QUESTION in page and "铭牌照片见附件" in page and "铭牌.png" in page

    # a late second answer is refused clearly and changes nothing
    late = client.post(f"/status/{token}", headers=EN, data={"csrf_token": csrf(raw), "reply_text": "again"})
    assert late.status_code == 409
    assert "We are not waiting for information on this case any more." in text(late)
    with database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.case_id == case_id, AuditEvent.element == "customer_reply")) == 1


def test_survey_only_after_closing_once_and_on_the_case_page(prod_app, client, database):
    case_id, token = _new_case(client, database, feedback_type="consultation", description="这台机器的保修期多长?")

    before = client.get(f"/survey/{token}", headers=EN)
    assert before.status_code == 200 and "The survey opens once we have replied to you." in text(before)
    assert 'data-testid="survey-form"' not in text(before)
    page = client.get("/feedback").get_data(as_text=True)
    early = client.post(f"/survey/{token}", data={"csrf_token": csrf(page), "score": "5"})
    assert early.status_code == 409

    complete_as(prod_app, database, case_id, "answer_close",
                {"answer": "保修期为一年。", "reply_channel": "email", "answer_note": "INTERNAL-备注"}, "marketing")
    with database.transaction() as session:
        assert session.get(Case, case_id).status == "closed"
        assert session.scalar(select(func.count()).select_from(SurveyResponse)) == 0

    status_page = _status(client, token)
    assert 'data-status="closed"' in status_page and "保修期为一年。" in status_page
    assert "INTERNAL" not in status_page and 'data-testid="survey-link"' in status_page

    form_page = client.get(f"/survey/{token}", headers=EN)
    html = form_page.get_data(as_text=True)
    assert 'data-testid="survey-form"' in html
    for label in ("Very satisfied", "Satisfied", "Neutral", "Dissatisfied", "Very dissatisfied"):
        assert label in html
    invalid = client.post(f"/survey/{token}", data={"csrf_token": csrf(html), "score": "9"})
    assert invalid.status_code == 422 and 'data-field="score"' in invalid.get_data(as_text=True)

    answered = client.post(f"/survey/{token}", headers=EN,
                           data={"csrf_token": csrf(html), "score": "4", "comment": "回复很及时"})
    assert answered.status_code == 200 and 'data-testid="survey-thanks"' in answered.get_data(as_text=True)
    again = client.post(f"/survey/{token}", headers=EN, data={"csrf_token": csrf(html), "score": "1"})
    assert again.status_code == 200
    assert "Thank you, this survey has already been answered." in text(again)

    with database.transaction() as session:
        rows = session.scalars(select(SurveyResponse)).all()
        assert [(r.case_id, r.score, r.comment) for r in rows] == [(case_id, 4, "回复很及时")]
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "survey_answered")).one()
        assert event.case_id == case_id and event.actor_label == "customer"
        assert event.data_after == {"score": 4, "comment": "回复很及时"}

    assert 'data-testid="survey-done"' in _status(client, token)
    staff = prod_app.test_client()
    login(staff, "marketing")
    case_page = text(staff.get(f"/cases/{case_id}"))
    assert 'data-score="4"' in case_page and "回复很及时" in case_page
    assert 'data-action="survey_answered"' in case_page and "客户 ·" in case_page  # in the timeline, by the customer
