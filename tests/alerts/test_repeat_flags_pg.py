"""Repeat flags and alert clusters under concurrent intake on PostgreSQL: a case flagged while an
earlier case on the same key is still uncommitted waits for it (the early warning's advisory lock
on the key), so it counts the earlier case as the definition says; two cases on the same keys
evaluated at the same time make one cluster per key, whichever order their keys come in.

Runs only with TEST_DB=postgres.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from app.clock import clock
from app.data.models import Case, CaseRepeat, RepeatCluster, RepeatClusterCase
from app.engine.context import Actor
from app.services import alert_rules, alerts
from app.services.analytics.projection import refresh_match_keys

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(os.environ.get("TEST_DB", "sqlite") != "postgres",
                       reason="PostgreSQL concurrency tests run only with TEST_DB=postgres"),
]

NOW = datetime(2026, 3, 25, 4, tzinfo=UTC)


def _add(session, number: str, minute: int, serials: str | None = None) -> Case:
    case = Case(number=number, feedback_type="complaint", customer_name="客户", product_model="M-7",
                serial_numbers=serials, received_at=NOW.replace(minute=minute), status="open",
                public_token=number, data={})
    session.add(case)
    session.flush()
    alerts.project_intake(session, case)
    refresh_match_keys(session, case)
    return case


def _held_uncommitted(database, work) -> tuple[threading.Thread, list[BaseException]]:
    """Run ``work(session)`` in a transaction of another thread that stays open, uncommitted, for a
    second after it (holding what it locked); returns once ``work`` is done."""
    done = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with database.transaction() as s:
                work(s)
                done.set()
                time.sleep(1.0)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
            done.set()

    thread = threading.Thread(target=run)
    thread.start()
    assert done.wait(30)
    return thread, errors


def test_a_case_flagged_during_an_earlier_uncommitted_case_waits_for_it(database):
    clock.set(NOW)
    with database.transaction() as s:  # the model rule: a second case within 30 days is a repeat
        alert_rules.set_rules(s, {**alert_rules.DEFAULT.as_json(), "model": {"threshold": 2, "window_days": 30}},
                              Actor.system("test"))
    thread, errors = _held_uncommitted(database, lambda s: _add(s, "A1", 1))
    with database.transaction() as s:
        _add(s, "A2", 2)  # blocks on the key's lock until A1 commits, then sees it
    thread.join(30)
    assert not errors
    with database.transaction() as s:
        flagged = set(s.scalars(select(Case.number).join(CaseRepeat, CaseRepeat.case_id == Case.id)))
    assert flagged == {"A2"}


def test_cases_on_the_same_keys_at_the_same_time_make_one_cluster_per_key(database):
    clock.set(NOW)
    with database.transaction() as s:  # a second case on the model or on a serial forms a cluster
        alert_rules.set_rules(s, {**alert_rules.DEFAULT.as_json(), "model": {"threshold": 2, "window_days": 30}},
                              Actor.system("test"))
    actor = Actor.system("test")
    thread, errors = _held_uncommitted(database, lambda s: alerts.evaluate(s, _add(s, "C1", 1, "SN-B\nSN-A"), actor))
    with database.transaction() as s:
        formed = alerts.evaluate(s, _add(s, "C2", 2, "SN-A\nSN-B"), actor)  # waits for C1, then sees it
    thread.join(30)
    assert not errors
    assert {(c.dimension, c.key) for c in formed} == {("model", "M-7"), ("serial", "SN-A"), ("serial", "SN-B")}
    with database.transaction() as s:
        clusters = s.scalars(select(RepeatCluster)).all()
        assert sorted((c.dimension, c.key, c.case_count) for c in clusters) == [
            ("model", "M-7", 2), ("serial", "SN-A", 2), ("serial", "SN-B", 2)]
        members = s.execute(select(RepeatClusterCase.cluster_id, Case.number)
                            .join(Case, Case.id == RepeatClusterCase.case_id)).all()
        assert sorted(number for _cluster, number in members) == ["C1", "C1", "C1", "C2", "C2", "C2"]
    with database.transaction() as s:  # evaluating again changes nothing
        case = s.scalars(select(Case).where(Case.number == "C2")).one()
        assert alerts.evaluate(s, case, actor) == []
        assert s.scalar(select(func.count()).select_from(RepeatClusterCase)) == 6
