"""Repeat flags under concurrent intake on PostgreSQL: a case flagged while an earlier case on the
same key is still uncommitted waits for it (the early warning's advisory lock on the key), so it
counts the earlier case as the definition says.

Runs only with TEST_DB=postgres.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from app.clock import clock
from app.data.models import Case, CaseRepeat
from app.engine.context import Actor
from app.services import alert_rules, alerts
from app.services.analytics.projection import refresh_match_keys

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(os.environ.get("TEST_DB", "sqlite") != "postgres",
                       reason="PostgreSQL concurrency tests run only with TEST_DB=postgres"),
]

NOW = datetime(2026, 3, 25, 4, tzinfo=UTC)


def _add(session, number: str, minute: int) -> Case:
    case = Case(number=number, feedback_type="complaint", customer_name="客户", product_model="M-7",
                received_at=NOW.replace(minute=minute), status="open", public_token=number, data={})
    session.add(case)
    session.flush()
    alerts.project_intake(session, case)
    refresh_match_keys(session, case)
    return case


def test_a_case_flagged_during_an_earlier_uncommitted_case_waits_for_it(database):
    clock.set(NOW)
    with database.transaction() as s:  # the model rule: a second case within 30 days is a repeat
        alert_rules.set_rules(s, {**alert_rules.DEFAULT.as_json(), "model": {"threshold": 2, "window_days": 30}},
                              Actor.system("test"))
    first_flagged = threading.Event()
    errors: list[BaseException] = []

    def earlier() -> None:
        try:
            with database.transaction() as s:
                _add(s, "A1", 1)
                first_flagged.set()
                time.sleep(1.0)  # still uncommitted while the later case is flagged
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            first_flagged.set()

    thread = threading.Thread(target=earlier)
    thread.start()
    assert first_flagged.wait(30)
    with database.transaction() as s:
        _add(s, "A2", 2)  # blocks on the key's lock until A1 commits, then sees it
    thread.join(30)
    assert not errors
    with database.transaction() as s:
        flagged = set(s.scalars(select(Case.number).join(CaseRepeat, CaseRepeat.case_id == Case.id)))
    assert flagged == {"A2"}
