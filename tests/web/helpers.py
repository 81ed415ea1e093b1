"""Helpers for the web UI tests: every action goes through the real pages, forms and CSRF tokens."""

from __future__ import annotations

import html
import re

from sqlalchemy import func, select

from app.data.models import AuditEvent, Case, HumanTask
from tests.conftest import login

INTAKE = {
    "customer_name": "华东机械有限公司",
    "customer_contact": "张三 13800000000",
    "customer_email": "zhang@example.com",
    "product_model": "XJ-200",
    "description": "设备运行时异响。",
    "defective_qty": "3",
    "demands": ["replenish", "exchange"],
    "feedback_type": "complaint",
    "category": "quality",
    "urgency": "urgent",
}


def user_client(app, username: str):
    client = app.test_client()
    login(client, username)
    return client


def form_tokens(page: str) -> dict[str, str]:
    """The hidden csrf_token and submit_token of a rendered page."""
    found = {}
    for name in ("csrf_token", "submit_token"):
        match = re.search(rf'name="{name}"(?: type="hidden")? value="([^"]+)"', page)
        if match:
            found[name] = match.group(1)
    return found


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def create_case(client, **overrides) -> tuple[int, str]:
    """Open a case through /cases/new; returns (case id, flash text of the case page)."""
    page = client.get("/cases/new")
    assert page.status_code == 200
    data = {**INTAKE, **overrides, "csrf_token": form_tokens(page.get_data(as_text=True))["csrf_token"]}
    response = client.post("/cases/new", data=data)
    assert response.status_code == 302, text(response)[:2000]
    case_id = int(response.headers["Location"].rstrip("/").rsplit("/", 1)[-1])
    return case_id, text(client.get(response.headers["Location"]))


def inbox_task_ids(client, tab: str = "department") -> list[str]:
    page = client.get(f"/inbox/?tab={tab}")
    assert page.status_code == 200
    return re.findall(r'data-testid="inbox-row" data-task-id="([^"]+)"', page.get_data(as_text=True))


def open_task(session, case_id: int, element_id: str, department: str | None = None) -> HumanTask:
    stmt = select(HumanTask).where(HumanTask.case_id == case_id, HumanTask.element_id == element_id,
                                   HumanTask.state == "open")
    rows = session.scalars(stmt).all()
    if department is not None:
        from app.data.models import Department

        dept_id = session.scalar(select(Department.id).where(Department.code == department))
        rows = [r for r in rows if r.department_id == dept_id]
    assert len(rows) == 1, rows
    return rows[0]


def load_task_form(client, task_id: str) -> dict[str, str]:
    page = client.get(f"/tasks/{task_id}")
    assert page.status_code == 200, page.status_code
    tokens = form_tokens(page.get_data(as_text=True))
    assert "submit_token" in tokens
    return tokens


def submit_task(client, task_id: str, data: dict, tokens: dict[str, str] | None = None):
    tokens = tokens or load_task_form(client, task_id)
    return client.post(f"/tasks/{task_id}", data={**data, **tokens})


def audit_count(session, case_id: int, action: str | None = None) -> int:
    stmt = select(func.count()).select_from(AuditEvent).where(AuditEvent.case_id == case_id)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    return session.scalar(stmt)


def case_status(session, case_id: int) -> str:
    return session.get(Case, case_id).status


VERIFY_OK = {
    "info_complete": "yes", "verify_note": "信息齐全", "measures-0-action": "先行补货", "measures-0-owner": "marketing",
}
