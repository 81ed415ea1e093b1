"""The production diagrams (bpmn/, forms/) driven through HTTP as the right department users.

``prod_app`` is the shared ``app`` fixture with the production diagrams and forms deployed on top,
so the latest ``feedback_case`` is the production one. ``Flow`` signs users in (one test client
each), finds a user's open task through GET /api/v1/tasks?scope=department and completes it either
through the real web task form (CSRF and submit tokens, group rows, repeated multiselect keys) or
through POST /api/v1/tasks/<id>/complete with a bearer token.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from app.clock import clock
from app.data.models import AuditEvent, Department, HumanTask, InstanceStatus, ProcessInstance, TaskState
from app.services.setup import deploy_folder
from tests.conftest import ROOT, api_token, login
from tests.payloads import REVIEW_NONE

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # a Monday, 09:00 in Shanghai


@pytest.fixture
def prod_app(app):
    """The ``app`` fixture with bpmn/ and forms/ deployed on top; the clock frozen at T0."""
    with app.extensions["database"].transaction() as session:
        result = deploy_folder(session, ROOT / "bpmn", ROOT / "forms")
        assert {d.key for d in result.created} >= {"feedback_case", "stock_count", "eight_d", "weekly_assessment"}
    if "assessment" not in app.blueprints:  # until app.web registers the blueprint itself
        from app.web.assessment.routes import bp

        app.register_blueprint(bp)
    clock.set(T0)
    return app


@pytest.fixture
def flow(prod_app):
    return Flow(prod_app)


# --------------------------------------------------------------------------- form encoding


def form_fields(data: dict[str, Any]) -> MultiDict:
    """Task data → the fields a browser posts: group rows as ``name-i-field``, lists as repeated
    keys, booleans as a checked box (``y``) or nothing."""
    out: list[tuple[str, str]] = []

    def put(name: str, value: Any) -> None:
        if value is None or value is False:
            return
        if value is True:
            out.append((name, "y"))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, dict):
                    for key, sub in item.items():
                        put(f"{name}-{index}-{key}", sub)
                else:
                    out.append((name, str(item)))
        else:
            out.append((name, str(value)))

    for key, value in data.items():
        put(key, value)
    return MultiDict(out)


def page_tokens(page: str) -> dict[str, str]:
    found = {}
    for name in ("csrf_token", "submit_token"):
        match = re.search(rf'name="{name}"(?: type="hidden")? value="([^"]+)"', page)
        assert match, f"no {name} on the task page"
        found[name] = match.group(1)
    return found


# --------------------------------------------------------------------------- driver


class Flow:
    """Users acting on one app through HTTP."""

    def __init__(self, app) -> None:
        self.app = app
        self.database = app.extensions["database"]
        self._clients: dict[str, Any] = {}
        self._headers: dict[str, dict[str, str]] = {}

    # ---- sessions
    def client(self, username: str):
        if username not in self._clients:
            client = self.app.test_client()
            login(client, username)
            self._clients[username] = client
        return self._clients[username]

    def headers(self, username: str) -> dict[str, str]:
        if username not in self._headers:
            self._headers[username] = api_token(self.app.test_client(), username)
        return self._headers[username]

    # ---- starting
    def open_case(self, username: str = "marketing", **intake: Any) -> int:
        """Marketing registers a case through POST /api/v1/cases; returns its id."""
        response = self.client(username).post("/api/v1/cases", json=intake, headers=self.headers(username))
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"]

    def open_case_web(self, username: str = "marketing", **intake: Any) -> int:
        """Marketing registers a case through the /cases/new form; returns its id."""
        client = self.client(username)
        page = client.get("/cases/new").get_data(as_text=True)
        token = re.search(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"', page).group(1)
        fields = form_fields(intake)
        fields.add("csrf_token", token)
        response = client.post("/cases/new", data=fields)
        assert response.status_code == 302, response.get_data(as_text=True)[:3000]
        return int(response.headers["Location"].rstrip("/").rsplit("/", 1)[-1])

    def start_process(self, key: str, data: dict[str, Any]) -> int:
        from app.engine.context import Actor

        with self.database.transaction() as session:
            return self.app.extensions["runtime"].start(session, key, data, Actor.system("test")).id

    # ---- finding tasks
    def find(self, username: str, element: str, case_id: int | None = None, dept: str | None = None) -> dict:
        """The one open task ``element`` of the case in ``username``'s department inbox (API)."""
        response = self.client(username).get("/api/v1/tasks?scope=department", headers=self.headers(username))
        assert response.status_code == 200, response.get_json()
        found = [t for t in response.get_json()["tasks"] if t["element_id"] == element and t["case_id"] == case_id
                 and (dept is None or t["department"] == dept)]
        assert len(found) == 1, (username, element, found, self.open_elements(case_id=case_id))
        return found[0]

    def open_rows(self, case_id: int | None = None, instance_id: int | None = None) -> list[HumanTask]:
        with self.database.transaction() as session:
            stmt = select(HumanTask).where(HumanTask.state == TaskState.OPEN)
            if case_id is not None:
                stmt = stmt.where(HumanTask.case_id == case_id)
            if instance_id is not None:
                stmt = stmt.where(HumanTask.instance_id == instance_id)
            return list(session.scalars(stmt.order_by(HumanTask.created_at, HumanTask.element_id)))

    def open_elements(self, case_id: int | None = None, instance_id: int | None = None) -> list[tuple[str, str]]:
        codes = self.department_codes()
        return sorted((t.element_id, codes.get(t.department_id)) for t in self.open_rows(case_id, instance_id))

    def department_codes(self) -> dict[int, str]:
        with self.database.transaction() as session:
            return {d.id: d.code for d in session.scalars(select(Department))}

    def history(self, element: str, case_id: int | None = None, instance_id: int | None = None) -> list[HumanTask]:
        with self.database.transaction() as session:
            stmt = select(HumanTask).where(HumanTask.element_id == element)
            if case_id is not None:
                stmt = stmt.where(HumanTask.case_id == case_id)
            if instance_id is not None:
                stmt = stmt.where(HumanTask.instance_id == instance_id)
            return list(session.scalars(stmt.order_by(HumanTask.created_at)))

    # ---- completing
    def web_submit(self, username: str, task_id: str, data: dict[str, Any]):
        """GET the task page, then POST the form with its tokens; returns the POST response."""
        client = self.client(username)
        page = client.get(f"/tasks/{task_id}")
        assert page.status_code == 200, page.status_code
        fields = form_fields(data)
        for name, value in page_tokens(page.get_data(as_text=True)).items():
            fields.add(name, value)
        return client.post(f"/tasks/{task_id}", data=fields)

    def api_submit(self, username: str, task_id: str, data: dict[str, Any]):
        return self.client(username).post(f"/api/v1/tasks/{task_id}/complete", json={"data": data},
                                          headers=self.headers(username))

    def complete(self, username: str, element: str, data: dict[str, Any], case_id: int | None = None,
                 via: str = "web", dept: str | None = None) -> dict:
        """Complete ``username``'s open task ``element`` through the web form or the API."""
        task = self.find(username, element, case_id, dept)
        if via == "web":
            response = self.web_submit(username, task["id"], data)
            assert response.status_code == 302, _errors(response)
        else:
            response = self.api_submit(username, task["id"], data)
            assert response.status_code == 200, response.get_json()
        with self.database.transaction() as session:
            row = session.get(HumanTask, task["id"])
            assert row.state == TaskState.COMPLETED, (element, row.state)
            instance = session.get(ProcessInstance, row.instance_id)
            assert instance.status != InstanceStatus.INCIDENT, instance.incident_message
        return task

    def verify(self, case_id: int, data: dict[str, Any], via: str = "web") -> None:
        """Marketing verifies the complaint; Technical's review, which the first complete
        verification starts, is done at once (no technical question), so that a test sees only
        the rest of the procedure."""
        self.complete("marketing", "verify", data, case_id, via=via)
        if ("technical_review", "technical") in self.open_elements(case_id):
            self.complete("technical", "technical_review", REVIEW_NONE, case_id, via="api")

    # ---- time and data
    def advance(self, delta: timedelta, instance_id: int) -> bool:
        clock.advance(delta)
        self._headers.clear()  # API tokens expire; sign in again after moving time
        with self.database.transaction() as session:
            return self.app.extensions["runtime"].fire_timers(session, instance_id)

    def instance_id(self, case_id: int) -> int:
        with self.database.transaction() as session:
            return session.scalar(select(ProcessInstance.id).where(ProcessInstance.case_id == case_id)
                                  .order_by(ProcessInstance.id).limit(1))

    def instance(self, instance_id: int) -> ProcessInstance:
        with self.database.transaction() as session:
            return session.get(ProcessInstance, instance_id)

    def data(self, instance_id: int) -> dict[str, Any]:
        with self.database.transaction() as session:
            return self.app.extensions["runtime"].instance_data(session, instance_id)

    def task_data(self, task_id: str) -> dict[str, Any]:
        with self.database.transaction() as session:
            return self.app.extensions["runtime"].task_data(session, task_id)

    def audit_count(self, instance_id: int) -> int:
        with self.database.transaction() as session:
            return session.scalar(select(func.count()).select_from(AuditEvent)
                                  .where(AuditEvent.instance_id == instance_id))

    def case(self, username: str, case_id: int) -> dict:
        response = self.client(username).get(f"/api/v1/cases/{case_id}", headers=self.headers(username))
        assert response.status_code == 200, response.get_json()
        return response.get_json()


def _errors(response) -> str:
    page = response.get_data(as_text=True)
    found = re.findall(r'data-field="([^"]+)">([^<]*)<', page)
    return f"{response.status_code} {found or page[:1500]}"
