"""Migration 0024 builds the audit trail's task index without holding off writers (PostgreSQL).

The migration runs while another transaction has written to the trail and not committed. A plain
``CREATE INDEX`` would queue for the table's SHARE lock, and every later write would queue behind
it; ``CREATE INDEX CONCURRENTLY`` only waits for that transaction to end, and writes go on.
"""

from __future__ import annotations

import threading
import time
import uuid

import psycopg
import pytest

from app.data.migrate import downgrade, upgrade
from tests.conftest import BACKEND, PG_ADMIN

pytestmark = pytest.mark.skipif(BACKEND != "postgres", reason="CREATE INDEX CONCURRENTLY is PostgreSQL's")

INDEX = "ix_audit_event_task_completed"
EVENT = ("INSERT INTO audit_event (at, action, actor_label, channel, data_before, data_after) "
         "VALUES (now(), 'task_completed', 'test', 'system', '{}', '{}')")


@pytest.fixture
def database():
    name = f"fbidx_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}", base.replace("postgresql://", "postgresql+psycopg://") + f"/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def _index_valid(conn: psycopg.Connection) -> bool | None:
    row = conn.execute("SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                       "WHERE c.relname = %s", (INDEX,)).fetchone()
    return None if row is None else row[0]


def _waiting_migration(conn: psycopg.Connection, name: str) -> bool:
    """The migration's backend is waiting for a lock (the open writer's transaction)."""
    return bool(conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock' "
        "AND query ILIKE 'CREATE INDEX%%'", (name,)).fetchone()[0])


def test_writes_go_on_while_the_index_is_built(database):
    raw, url = database
    name = raw.rsplit("/", 1)[1]
    upgrade(url, "0023_assessment_weeks")
    with psycopg.connect(raw, autocommit=True) as watch, psycopg.connect(raw) as writer:
        writer.execute(EVENT)  # an operation in flight: written, not committed
        failed: list[BaseException] = []

        def migrate() -> None:
            try:
                upgrade(url)
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                failed.append(exc)

        thread = threading.Thread(target=migrate)
        thread.start()
        deadline = time.monotonic() + 30
        while not _waiting_migration(watch, name):
            assert thread.is_alive() and time.monotonic() < deadline, f"the build never waited: {failed}"
            time.sleep(0.05)
        # another operation writes to the trail and commits while the build waits
        with psycopg.connect(raw) as other:
            other.execute("SET lock_timeout = '3s'")
            other.execute(EVENT)
        writer.commit()  # the operation in flight ends; the build goes on
        thread.join(60)
        assert not thread.is_alive() and not failed, failed
        assert _index_valid(watch) is True
        assert watch.execute("SELECT count(*) FROM audit_event").fetchone()[0] == 2
        assert watch.execute("SELECT version_num FROM alembic_version").fetchone()[0] == "0024_audit_task_index"


def test_an_interrupted_build_is_built_anew(database):
    raw, url = database
    upgrade(url, "0023_assessment_weeks")
    with psycopg.connect(raw, autocommit=True) as conn:
        conn.execute(EVENT)
        conn.execute(EVENT)
        # what an interrupted CREATE INDEX CONCURRENTLY leaves: the index, marked invalid
        conn.execute(f"CREATE INDEX {INDEX} ON audit_event (task_id, id) WHERE action = 'task_completed'")
        conn.execute(f"UPDATE pg_index SET indisvalid = false WHERE indexrelid = '{INDEX}'::regclass")
        assert _index_valid(conn) is False
        upgrade(url)
        assert _index_valid(conn) is True
        downgrade(url, "0023_assessment_weeks")
        assert _index_valid(conn) is None
