"""The public feedback form: a case with number and status link, checked uploads, rate limit,
per-field errors, CSRF and honeypot, and the browser's language."""

from __future__ import annotations

import hashlib
import os
import re

from sqlalchemy import func, select

from app.data.models import AuditEvent, Case, HumanTask, PublicSubmission
from tests.public.helpers import (
    EN,
    EXE,
    PDF,
    PNG,
    case_count,
    csrf,
    docx_bytes,
    post_feedback,
    text,
    token_from_location,
)


def _uploads(app) -> list[str]:
    folder = app.config["UPLOAD_DIR"]
    return sorted(n for n in os.listdir(folder) if not n.startswith(".")) if os.path.isdir(folder) else []


def test_form_shows_only_the_customer_fields(prod_app, client):
    page = text(client.get("/feedback"))
    for name in ("customer_name", "customer_contact", "description", "attachments", "demands", "feedback_type"):
        assert f'name="{name}"' in page
    for internal in ("channel", "urgency"):
        assert f'name="{internal}"' not in page
    assert "客户名称" in page  # Chinese by default


def test_submission_opens_a_case_with_number_status_link_and_stored_files(prod_app, client, database):
    response = post_feedback(client, files=[("机器照片.png", PNG), ("report.pdf", PDF), ("8d.docx", docx_bytes())])
    token = token_from_location(response)
    page = text(client.get(response.headers["Location"]))
    with database.transaction() as session:
        case = session.scalars(select(Case)).one()
        assert case.public_token == token
        assert re.fullmatch(r"FB-\d{4}-00001", case.number)
        assert case.number in page
        assert f"/status/{token}" in page
        assert (case.channel, case.urgency, case.created_by_id) == ("web", None, None)  # Marketing assesses it
        assert case.customer_name == "宁波精工有限公司" and case.defective_qty == 2
        assert case.acknowledged_at is not None
        files = case.data["attachments"]
        assert [f["name"] for f in files] == ["机器照片.png", "report.pdf", "8d.docx"]
        assert [f["content_type"] for f in files] == [
            "image/png", "application/pdf",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ]
        assert files[0]["sha256"] == hashlib.sha256(PNG).hexdigest() == files[0]["id"]
        assert files[1]["size"] == len(PDF)
        # the process started from the web intake: Marketing's verification is waiting
        task = session.scalars(select(HumanTask).where(HumanTask.case_id == case.id)).one()
        assert task.element_id == "verify" and task.state == "open"
        started = session.scalars(select(AuditEvent).where(AuditEvent.action == "process_started")).one()
        assert started.actor_label == "customer"
    assert _uploads(prod_app) == sorted(f["sha256"] for f in files)
    with open(os.path.join(prod_app.config["UPLOAD_DIR"], files[0]["sha256"]), "rb") as stored:
        assert stored.read() == PNG


def test_wrong_file_types_are_rejected_and_nothing_is_created(prod_app, client, database):
    for name, content in (("setup.exe", EXE), ("photo.jpg", EXE), ("photo.png", PDF), ("fake.docx", b"PK\x03\x04junk")):
        response = post_feedback(client, files=[("ok.png", PNG), (name, content)], headers=EN)
        assert response.status_code == 422, name
        page = text(response)
        assert f"“{name}” is not an accepted file" in page, name
        assert 'data-field="attachments"' in page
    with database.transaction() as session:
        assert case_count(session) == 0
        assert session.scalar(select(func.count()).select_from(PublicSubmission)) == 0
    assert _uploads(prod_app) == [hashlib.sha256(PNG).hexdigest()]  # the acceptable photo, kept for the next try


def test_too_large_file_is_rejected(prod_app, client, database):
    prod_app.config["PUBLIC_MAX_FILE_BYTES"] = 1024
    response = post_feedback(client, files=[("big.png", PNG + b"\x00" * 2000)])
    assert response.status_code == 422
    assert "“big.png”" in text(response)
    with database.transaction() as session:
        assert case_count(session) == 0


def test_invalid_submit_returns_per_field_errors_and_creates_nothing(prod_app, client, database):
    response = post_feedback(client, customer_name="", description="", customer_contact="", customer_email="",
                             feedback_type="nonsense", defective_qty="-3")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    for field in ("customer_name", "description", "customer_contact", "feedback_type", "defective_qty"):
        assert f'data-field="{field}"' in page, field
    assert 'data-field="product_model"' not in page
    assert "宁波精工有限公司" not in page  # the emptied name is not refilled from elsewhere
    assert "XJ-300" in page  # what the customer typed is kept
    with database.transaction() as session:
        assert case_count(session) == 0
        assert session.scalar(select(func.count()).select_from(PublicSubmission)) == 0


def test_rate_limit_per_address(prod_app, client, database):
    prod_app.config["PUBLIC_FORM_RATE_LIMIT"] = 2
    for _ in range(2):
        token_from_location(post_feedback(client, ip="198.51.100.1"))
    blocked = post_feedback(client, ip="198.51.100.1", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert blocked.status_code == 429 and '<html lang="en">' in text(blocked)
    assert "You have sent 2 submissions within the last hour" in text(blocked)
    blocked_zh = post_feedback(client, ip="198.51.100.1")
    assert blocked_zh.status_code == 429 and '<html lang="zh-CN">' in text(blocked_zh)
    token_from_location(post_feedback(client, ip="198.51.100.2"))  # another address is fine
    with database.transaction() as session:
        assert case_count(session) == 3
        rows = session.scalars(select(PublicSubmission.client_ip)).all()
        assert sorted(rows) == ["198.51.100.1", "198.51.100.1", "198.51.100.2"]


def test_rate_limit_window_passes(prod_app, client, database):
    from datetime import timedelta

    from app.clock import clock

    prod_app.config["PUBLIC_FORM_RATE_LIMIT"] = 1
    token_from_location(post_feedback(client, ip="198.51.100.9"))
    assert post_feedback(client, ip="198.51.100.9").status_code == 429
    clock.advance(timedelta(minutes=61))
    token_from_location(post_feedback(client, ip="198.51.100.9"))


def test_honeypot_and_csrf(prod_app, client, database):
    assert post_feedback(client, website="http://spam.example").status_code == 400
    response = client.post("/feedback", data={"customer_name": "x", "description": "y", "feedback_type": "complaint"})
    assert response.status_code == 400
    with database.transaction() as session:
        assert case_count(session) == 0


def test_language_follows_the_browser_and_the_switch(prod_app, client):
    english = text(client.get("/feedback", headers={"Accept-Language": "en-GB,en;q=0.8"}))
    assert "Send us your feedback" in english and "Customer" in english and "客户名称" not in english
    chinese = text(client.get("/feedback", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}))
    assert "客户名称" in chinese
    assert "客户名称" in text(client.get("/feedback", headers={"Accept-Language": "fr-FR"}))
    token = csrf(english)
    switched = client.post("/language/zh", data={"csrf_token": token}, headers={"Referer": "http://localhost/feedback"})
    assert switched.status_code == 302
    assert "客户名称" in text(client.get("/feedback", headers={"Accept-Language": "en"}))
