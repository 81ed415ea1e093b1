"""Helpers for the public-page tests: customers post through the real forms with CSRF tokens."""

from __future__ import annotations

import html
import io
import re
import zipfile

from sqlalchemy import func, select

from app.data.models import Case, HumanTask, User
from app.engine.context import Actor

EN = {"Accept-Language": "en"}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 40
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 64

CUSTOMER_INTAKE = {
    "customer_name": "宁波精工有限公司",
    "customer_contact": "李四 13900000000",
    "customer_email": "li@example.com",
    "product_model": "XJ-300",
    "ship_date": "2026-10-01",
    "description": "电机过热,停机。",
    "defective_qty": "2",
    "serial_numbers": "SN001\nSN002",
    "demands": ["exchange"],
    "feedback_type": "complaint",
    "category": "quality",
}


def docx_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<document/>")
    return buffer.getvalue()


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def csrf(page: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or re.search(
        r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no CSRF token"
    return match.group(1)


def submit_token(page: str) -> str | None:
    match = re.search(r'name="submit_token" type="hidden" value="([^"]+)"', page)
    return match.group(1) if match else None


def post_feedback(client, ip: str = "203.0.113.7", files=None, headers=None, **overrides):
    """GET the public form, then POST it (multipart) from ``ip``."""
    environ = {"REMOTE_ADDR": ip}
    page = client.get("/feedback", environ_base=environ, headers=headers or {})
    assert page.status_code == 200
    data = {**CUSTOMER_INTAKE, **overrides, "csrf_token": csrf(page.get_data(as_text=True))}
    data = {key: value for key, value in data.items() if value is not None}
    if files:
        data["attachments"] = [(io.BytesIO(content), name) for name, content in files]
    return client.post("/feedback", data=data, content_type="multipart/form-data", environ_base=environ,
                       headers=headers or {})


def token_from_location(response) -> str:
    assert response.status_code == 303, text(response)[:3000]
    return response.headers["Location"].rstrip("/").rsplit("/", 1)[-1]


def case_count(session) -> int:
    return session.scalar(select(func.count()).select_from(Case))


def open_task(session, case_id: int, element_id: str) -> HumanTask:
    rows = session.scalars(select(HumanTask).where(
        HumanTask.case_id == case_id, HumanTask.element_id == element_id, HumanTask.state == "open")).all()
    assert len(rows) == 1, [(r.element_id, r.state) for r in rows]
    return rows[0]


def complete_as(app, database, case_id: int, element_id: str, data: dict, username: str) -> None:
    """Complete the case's open task ``element_id`` through the engine as ``username``."""
    with database.transaction() as session:
        task = open_task(session, case_id, element_id)
        user = session.scalars(select(User).where(User.username == username)).one()
        app.extensions["runtime"].complete_task(session, task.id, data, Actor(user.id, user.display_name))
