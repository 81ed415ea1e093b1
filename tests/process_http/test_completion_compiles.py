"""A completion's statements come from SQLAlchemy's compiled cache: a construct without a cache key
(multi-row ``VALUES``, ``values().data()``) is compiled again on every execution, which cost a
quarter of a trivial completion's CPU (docs/benchmarks.md, "CPU per completion")."""

from __future__ import annotations

from sqlalchemy import event

from app.services import calendar_admin
from tests.api.helpers import INTAKE
from tests.conftest import api_token
from tests.payloads import verify_ok


def test_a_completion_compiles_no_statement_anew(prod_app, monkeypatch):
    monkeypatch.setattr(calendar_admin, "CHECK_EVERY_SECONDS", 3600)
    client = prod_app.test_client()
    marketing = api_token(client, "marketing")

    def verify_task() -> str:
        case = client.post("/api/v1/cases", json={**INTAKE, "channel": "hotline", "customer_email": "c@example.com"},
                           headers=marketing).get_json()
        detail = client.get(f"/api/v1/cases/{case['id']}", headers=marketing).get_json()
        return next(t["id"] for t in detail["open_tasks"] if t["element_id"] == "verify")

    first, second = verify_task(), verify_task()
    assert client.post(f"/api/v1/tasks/{first}/complete", json={"data": verify_ok()},
                       headers=marketing).status_code == 200  # warms the cache

    uncached: list[str] = []
    executed: list[str] = []

    def watch(_conn, _cursor, statement, _params, context, _many):
        executed.append(statement)
        if context is not None and context.cache_hit == context.dialect.NO_CACHE_KEY:
            uncached.append(" ".join(statement.split())[:100])

    engine = prod_app.extensions["database"].engine
    event.listen(engine, "before_cursor_execute", watch)
    try:
        response = client.post(f"/api/v1/tasks/{second}/complete", json={"data": verify_ok()}, headers=marketing)
    finally:
        event.remove(engine, "before_cursor_execute", watch)
    assert response.status_code == 200, response.get_json()
    assert any("INSERT INTO email_outbox" in s for s in executed)  # the notifications' statement ran
    assert uncached == []
