"""Helpers for the API tests: everything goes through the real HTTP API."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from app.data.models import AuditEvent, Case, HumanTask
from tests.conftest import api_token

INTAKE: dict[str, Any] = {
    "customer_name": "宁波海天机械",
    "customer_contact": "张工 13800000000",
    "product_model": "HT-200",
    "description": "主轴异响,客户要求派人到现场。",
    "defective_qty": 3,
    "demands": ["onsite", "exchange"],
    "feedback_type": "complaint",
    "urgency": "urgent",
    "ship_date": "2024-03-01",
}

VERIFY_OK = {
    "info_complete": "yes",
    "verify_note": "已电话核实",
    "measures": [{"action": "更换主轴", "owner": "production"}],
}


def auth(client, username: str, lang: str | None = None) -> dict[str, str]:
    headers = api_token(client, username)
    if lang:
        headers["Accept-Language"] = lang
    return headers


def create_case(client, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    response = client.post("/api/v1/cases", json={**INTAKE, **overrides}, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def case_detail(client, headers: dict[str, str], case_id: int) -> dict[str, Any]:
    response = client.get(f"/api/v1/cases/{case_id}", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def open_tasks(client, headers: dict[str, str], case_id: int, element_id: str) -> list[dict[str, Any]]:
    return [t for t in case_detail(client, headers, case_id)["open_tasks"] if t["element_id"] == element_id]


def the_task(client, headers: dict[str, str], case_id: int, element_id: str) -> dict[str, Any]:
    tasks = open_tasks(client, headers, case_id, element_id)
    assert len(tasks) == 1, tasks
    return tasks[0]


def complete(client, headers: dict[str, str], task_id: str, data: Any, submit_token: str | None = None):
    body: dict[str, Any] = {"data": data}
    if submit_token is not None:
        body["submit_token"] = submit_token
    return client.post(f"/api/v1/tasks/{task_id}/complete", json=body, headers=headers)


def counts(database) -> dict[str, int]:
    """Rows of cases, audit events and open tasks, read straight from the database."""
    with database.session() as session:
        return {
            "cases": session.scalar(select(func.count()).select_from(Case)),
            "audit": session.scalar(select(func.count()).select_from(AuditEvent)),
            "open_tasks": session.scalar(
                select(func.count()).select_from(HumanTask).where(HumanTask.state == "open")
            ),
        }


def assert_error(response, status: int) -> dict[str, Any]:
    """The response is a JSON error of ``status``; returns its ``error`` object."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:500])
    assert response.is_json, response.get_data(as_text=True)[:300]
    error = response.get_json()["error"]
    assert error["status"] == status
    assert isinstance(error["message"], str) and error["message"]
    return error
