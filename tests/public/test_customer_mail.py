"""Issue 10.10: the customer hears from us. A case with the customer's e-mail address sends an
acknowledgement (case number, status link), the question when we need information and the
reply with the survey link — in the customer's language, through the outbox and its retries,
to a real local SMTP server."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app.clock import clock
from app.data.models import Case, EmailOutbox
from app.services import notifications
from tests.conftest import login
from tests.public.helpers import EN, complete_as, post_feedback, text, token_from_location
from tests.timers.conftest import SmtpServer, free_port

ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
BASE_URL = "https://feedback.example.com"


def mail_config(app, port: int) -> None:
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_TIMEOUT=2, BASE_URL=BASE_URL,
                      OUTBOX_RETRY_SECONDS=60)


def new_case(client, database, headers, **overrides) -> Case:
    token = token_from_location(post_feedback(client, headers=headers, **overrides))
    with database.transaction() as session:
        case = session.scalars(select(Case).where(Case.public_token == token)).one()
        session.expunge(case)
        return case


def outbox(database) -> list[tuple[str | None, str, str, int]]:
    """The e-mails to customers (the staff's notifications go through the same outbox)."""
    with database.transaction() as session:
        return [(r.kind, r.locale, r.status, r.attempts)
                for r in session.scalars(select(EmailOutbox).where(EmailOutbox.case_id.is_not(None))
                                         .order_by(EmailOutbox.id))]


def test_the_acknowledgement_reaches_a_local_smtp_server_in_chinese_after_a_retry(prod_app, client, database):
    port = free_port()
    mail_config(prod_app, port)
    case = new_case(client, database, ZH)
    assert case.customer_locale == "zh"
    assert outbox(database) == [("acknowledgement", "zh", "pending", 0)]

    # the mail server is down: the case is there all the same, the e-mail waits for a retry
    clock.set(clock.now())
    assert notifications.drain_outbox(database, prod_app.config)[0] == 0
    assert outbox(database) == [("acknowledgement", "zh", "pending", 1)]
    server = SmtpServer(port).start()
    try:
        clock.advance(timedelta(seconds=30))
        notifications.drain_outbox(database, prod_app.config)
        assert outbox(database) == [("acknowledgement", "zh", "pending", 1)]  # not before its retry time
        clock.advance(timedelta(seconds=31))
        notifications.drain_outbox(database, prod_app.config)
        [message] = server.inbox.to("li@example.com")
    finally:
        server.stop()
    assert outbox(database) == [("acknowledgement", "zh", "sent", 2)]
    assert message["Subject"] == f"我们已收到您的反馈（{case.number}）"
    assert message["Content-Language"] == "zh-CN"
    body = message.get_content()
    assert body.startswith("宁波精工有限公司，您好：")
    assert f"案件编号为 {case.number}" in body
    assert f"{BASE_URL}/status/{case.public_token}" in body
    assert notifications.drain_outbox(database, prod_app.config) == (0, 0)  # nothing is sent twice

    staff = prod_app.test_client()
    login(staff, "marketing")
    page = text(staff.get(f"/cases/{case.id}"))
    assert 'data-kind="acknowledgement" data-status="sent"' in page and "受理确认" in page


def test_an_english_customer_hears_the_question_and_the_reply_in_english(prod_app, client, database):
    port = free_port()
    mail_config(prod_app, port)
    case = new_case(client, database, EN, feedback_type="consultation", description="How long is the warranty?")
    assert case.customer_locale == "en"
    complete_as(prod_app, database, case.id, "answer_close",
                {"answer": "One year from delivery.", "reply_channel": "email", "answer_note": "INTERNAL"},
                "marketing")
    assert [kind for kind, *_ in outbox(database)] == ["acknowledgement", "reply"]
    server = SmtpServer(port).start()
    try:
        assert notifications.drain_outbox(database, prod_app.config)[1] == 0
        acknowledgement, reply = server.inbox.to("li@example.com")
    finally:
        server.stop()
    assert acknowledgement["Subject"] == f"We have received your feedback ({case.number})"
    assert reply["Subject"] == f"Your feedback {case.number}: our reply"
    body = reply.get_content()
    assert "One year from delivery." in body and "INTERNAL" not in body
    assert f"{BASE_URL}/survey/{case.public_token}" in body and f"{BASE_URL}/status/{case.public_token}" in body


def test_the_question_asks_for_the_answer_on_the_status_page(prod_app, client, database):
    mail_config(prod_app, free_port())
    case = new_case(client, database, ZH)
    complete_as(prod_app, database, case.id, "verify", {
        "info_complete": "no", "missing_info": "INTERNAL-缺少铭牌", "verified_description": "INTERNAL",
        "temporary_measures": [{"measure": "INTERNAL", "owner": "marketing", "due_date": None}]}, "marketing")
    complete_as(prod_app, database, case.id, "info_request",
                {"question": "请提供故障机器铭牌照片。", "request_channel": "email"}, "marketing")
    with database.transaction() as session:
        question = session.scalars(select(EmailOutbox).where(EmailOutbox.kind == "question")).one()
        assert question.case_id == case.id and question.to_address == "li@example.com"
        assert question.subject == f"关于您的反馈 {case.number}：请补充信息"
        assert "请提供故障机器铭牌照片。" in question.body and "INTERNAL" not in question.body
        assert f"{BASE_URL}/status/{case.public_token}" in question.body


def test_no_address_no_email(prod_app, client, database):
    mail_config(prod_app, free_port())
    case = new_case(client, database, ZH, customer_email="", feedback_type="consultation")
    complete_as(prod_app, database, case.id, "answer_close", {"answer": "一年", "reply_channel": "phone"},
                "marketing")
    assert outbox(database) == []
    staff = prod_app.test_client()
    login(staff, "marketing")
    assert "无电子邮件地址" in text(staff.get(f"/cases/{case.id}"))
