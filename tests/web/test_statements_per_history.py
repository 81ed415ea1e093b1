"""Pages whose cost must not grow with what a case or a screen holds: a count of statements (not a
time), measured with little and with more behind the page. The case page read what each of the
case's tasks was completed with one query per form and per task, and the approvals screen loaded a
workflow and ran a query per item (docs/benchmarks.md, "Work that grew with the history")."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from app.clock import clock
from app.services import calendar_admin
from app.services.setup import deploy_folder
from tests.approvals.test_approvals import case_at_verify_8d
from tests.conftest import ROOT
from tests.process_http.conftest import T0, Flow


@pytest.fixture
def flow(app, monkeypatch):
    monkeypatch.setattr(calendar_admin, "CHECK_EVERY_SECONDS", 3600)  # no version check among the counted
    with app.extensions["database"].transaction() as session:
        deploy_folder(session, ROOT / "bpmn", ROOT / "forms")
    clock.set(T0)
    return Flow(app)


def statements(flow: Flow, username: str, path: str) -> list[str]:
    client = flow.client(username)
    assert client.get(path).status_code == 200  # per-process caches filled
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_rest) -> None:
        seen.append(" ".join(statement.split())[:160])

    engine = flow.app.extensions["database"].engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        assert client.get(path).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return seen


def test_the_case_page_reads_the_same_statements_however_many_tasks_are_done(flow):
    """Two cases at the same stage with the same forms: one 8D report, and three (one per
    department, each completed): the page of the second reads no more."""
    one = statements(flow, "quality", f"/cases/{case_at_verify_8d(flow)}")
    three = statements(flow, "quality", f"/cases/{case_at_verify_8d(flow, ('production', 'purchasing', 'technical'))}")
    assert len(three) == len(one), "\n".join(three)


def test_the_approvals_screen_reads_the_same_statements_however_many_items_it_shows(flow):
    case_at_verify_8d(flow)
    one = statements(flow, "quality_head", "/approvals/")
    for _ in range(3):
        case_at_verify_8d(flow)
    page = flow.client("quality_head").get("/approvals/").get_data(as_text=True)
    assert page.count('data-testid="approval-item"') == 4
    assert len(statements(flow, "quality_head", "/approvals/")) == len(one)
