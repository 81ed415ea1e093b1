"""Issue 10.10: the status page says when a complaint is answered and closed — also while the
corrective actions of its 8D are still being carried out — and the customer gets the reply with
the measures and the survey link by e-mail only once they accepted it."""

from __future__ import annotations

import html
from datetime import timedelta

from sqlalchemy import select

from app.clock import clock
from app.data.models import Case, EmailOutbox
from tests.process_http.conftest import T0
from tests.process_http.payloads import CLOSE_ACCEPTED, EIGHT_D, RETURN_VISIT, analysis, intake, verify_ok


def status(flow, token: str) -> str:
    response = flow.app.test_client().get(f"/status/{token}", headers={"Accept-Language": "en"})
    assert response.status_code == 200
    return html.unescape(response.get_data(as_text=True))


def customer_mails(flow, case_id: int) -> list[EmailOutbox]:
    with flow.database.transaction() as session:
        rows = list(session.scalars(select(EmailOutbox).where(EmailOutbox.case_id == case_id)
                                    .order_by(EmailOutbox.id)))
        session.expunge_all()
        return rows


def test_the_status_page_says_answered_while_actions_are_tracked_and_then_closed(flow):
    flow.app.config["BASE_URL"] = "https://feedback.example.com"
    case_id = flow.open_case(**intake())
    with flow.database.transaction() as session:
        token = session.get(Case, case_id).public_token
    assert 'data-status="received"' in status(flow, token)
    flow.verify(case_id, verify_ok())
    flow.complete("quality", "preliminary", analysis(), case_id)
    flow.complete("production", "report", EIGHT_D, case_id, via="api")
    flow.complete("quality", "verify_8d", {"decision": "accept", "reason": "有效"}, case_id, via="api")
    flow.complete("quality", "summary", {"measures_summary": "措施见8D"}, case_id, via="api")

    flow.complete("marketing", "close_case", {**CLOSE_ACCEPTED, "customer_accepted": "no",
                                              "customer_comment": "不接受"}, case_id, via="api")
    assert 'data-status="in_progress"' in status(flow, token)
    assert [m.kind for m in customer_mails(flow, case_id)] == ["acknowledgement"]  # no reply: not accepted

    flow.complete("quality", "summary", {"measures_summary": "补充措施"}, case_id, via="api")
    flow.complete("marketing", "close_case", {**CLOSE_ACCEPTED, "reply_to_customer": "更换控制板并增加点检"},
                  case_id, via="api")
    # the 8D's corrective actions are still being carried out: the customer has the answer
    assert ("execute", "production") in flow.open_elements(case_id)
    page = status(flow, token)
    assert 'data-status="answered"' in page and "We have sent you our reply." in page
    assert 'data-testid="answered-at"' in page and 'data-testid="closed-at"' not in page
    assert "更换控制板并增加点检" in page and 'data-testid="survey-link"' in page

    mails = customer_mails(flow, case_id)
    assert [(m.kind, m.locale, m.to_address) for m in mails] == [
        ("acknowledgement", "zh", "wang@example.com"), ("reply", "zh", "wang@example.com")]
    reply = mails[1]
    assert "更换控制板并增加点检" in reply.body and "措施见8D" not in reply.body
    assert f"https://feedback.example.com/survey/{token}" in reply.body

    iid = flow.instance_id(case_id)
    assert flow.advance(timedelta(days=3, minutes=1), iid)
    assert 'data-status="answered"' in status(flow, token)  # the return visit is after the answer
    flow.complete("marketing", "return_visit", RETURN_VISIT, case_id, via="api")
    page = status(flow, token)
    assert 'data-status="closed"' in page and 'data-testid="closed-at"' in page
    assert 'data-testid="answered-at"' in page
    with flow.database.transaction() as session:
        case = session.get(Case, case_id)
        assert case.status == "closed" and case.closed_at == clock.now() > T0
        assert case.clock_state == "met"  # the clock's outcome stays what it was at the reply
