"""The management report: the printable page and the PDF for a chosen period (the dashboard's
figures, its readers only), and the monthly e-mail with the PDF attached, sent once a month."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from pypdf import PdfReader
from sqlalchemy import select

from app.clock import clock
from app.data.models import AuditEvent, Case, EmailOutbox, Membership, User
from app.engine.context import Actor
from app.scheduler.runner import monthly_report_job
from app.services import notifications
from app.services import settings as app_settings
from tests.process_http.payloads import intake

MARCH = "period=month&start=2026-03-01"


def _text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def _number(flow, case_id: int) -> str:
    with flow.database.transaction() as session:
        return session.get(Case, case_id).number


def test_report_page_and_pdf_for_a_period(flow):
    number = _number(flow, flow.open_case(**intake(product_model="XK-900")))
    manager = flow.client("manager")
    response = manager.get(f"/reports/management.pdf?{MARCH}&lang=zh")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    text = _text(response.data)
    assert "管理报告" in text and number in text and "XK-900" in text
    assert "2026-03-01 – 2026-03-31" in text

    page = manager.get(f"/reports/management?{MARCH}&lang=en")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Management report" in html and number in html
    assert "<svg" in html and "/reports/management.pdf?" in html

    # the dashboard's readers only; a bad period is a clear 400, not a server error
    assert flow.client("production").get(f"/reports/management.pdf?{MARCH}").status_code == 403
    assert manager.get("/reports/management?period=decade").status_code == 400
    with flow.database.transaction() as session:
        exported = session.scalars(select(AuditEvent).where(AuditEvent.action == "report_exported")).all()
        assert [(e.actor_label, e.data_after["language"]) for e in exported] == [("总经理", "zh")]


def test_monthly_report_mailed_once_with_the_pdf(flow, prod_app, smtp_server):
    number = _number(flow, flow.open_case(**intake()))
    with flow.database.transaction() as session:
        # fewer readers keep the test short: the General Manager (head of Management) and the head of Quality
        kept = ["quality_head", "manager"]
        heads = session.scalars(select(User).join(Membership, Membership.user_id == User.id)
                                .where(Membership.is_head.is_(True), User.username.not_in(kept))).all()
        for user in heads:
            user.email = None
        app_settings.set_monthly_report(session, True, Actor.system())
    clock.set(datetime(2026, 4, 1, 2, 0, tzinfo=UTC))  # 10:00 on 1 April in Shanghai: March is due
    with prod_app.app_context():  # as the scheduler runs its jobs
        assert monthly_report_job(prod_app) == 2
        assert monthly_report_job(prod_app) == 0  # once a month
    with flow.database.transaction() as session:
        rows = session.scalars(select(EmailOutbox).where(EmailOutbox.attachments.is_not(None))).all()
        assert sorted(r.to_address for r in rows) == ["manager@example.com", "quality_head@example.com"]

    prod_app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_server.port)
    notifications.drain_outbox(prod_app.extensions["database"], prod_app.config)
    [message] = smtp_server.inbox.to("manager@example.com")
    assert "2026-03" in message["Subject"]
    [attachment] = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    text = _text(attachment.get_content())
    assert "管理报告" in text and number in text
