"""Copies of the test database (SQLite file or PostgreSQL template) to tamper with."""

from __future__ import annotations

import contextlib
import sqlite3
import uuid
from collections.abc import Iterator

import psycopg
from sqlalchemy import text

from app.data.db import Database
from app.engine import audit
from app.engine.context import Actor
from tests.conftest import PG_ADMIN


@contextlib.contextmanager
def database_copy(database: Database) -> Iterator[Database]:
    """A copy of ``database`` (its pool is emptied first: PostgreSQL copies only an idle database)."""
    database.dispose()
    if database.dialect == "sqlite":
        source = database.url.removeprefix("sqlite:///")
        target = source + f".copy-{uuid.uuid4().hex[:8]}"
        with contextlib.closing(sqlite3.connect(source)) as src, contextlib.closing(sqlite3.connect(target)) as dst:
            src.backup(dst)
        copy = Database(f"sqlite:///{target}")
        try:
            yield copy
        finally:
            copy.dispose()
        return
    name = database.engine.url.database
    copy_name = f"{name}_copy_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{copy_name}" TEMPLATE "{name}"')
    copy = Database(database.engine.url.set(database=copy_name).render_as_string(hide_password=False))
    try:
        yield copy
    finally:
        copy.dispose()
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (copy_name,))
            conn.execute(f'DROP DATABASE IF EXISTS "{copy_name}"')


def tamper(database: Database, *statements: str, **params) -> None:
    """Run SQL as someone with direct database access would, bypassing the PostgreSQL trigger."""
    with database.engine.begin() as conn:
        if database.dialect == "postgresql":
            conn.execute(text("ALTER TABLE audit_event DISABLE TRIGGER USER"))
            conn.execute(text("ALTER TABLE audit_chain_head DISABLE TRIGGER USER"))
        for statement in statements:
            conn.execute(text(statement), params)
        if database.dialect == "postgresql":
            conn.execute(text("ALTER TABLE audit_event ENABLE TRIGGER USER"))
            conn.execute(text("ALTER TABLE audit_chain_head ENABLE TRIGGER USER"))


def write_events(database: Database, count: int, per_transaction: int = 1, label: str = "tester") -> None:
    """``count`` events, ``per_transaction`` per committed transaction."""
    written = 0
    while written < count:
        with database.transaction() as session:
            for _ in range(min(per_transaction, count - written)):
                written += 1
                audit.record(session, actor=Actor(None, label, ("auditor",), ("quality",)), action="test_event",
                             message=f"event {written}", before={"n": written - 1}, after={"n": written, "x": "测试"})
