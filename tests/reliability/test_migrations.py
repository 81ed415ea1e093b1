"""Every migration goes down to base and up again, on the suite's database (SQLite or PostgreSQL)."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
from sqlalchemy import inspect

from app.data.db import Base, Database
from app.data.migrate import downgrade, upgrade
from tests.conftest import BACKEND, PG_ADMIN


def _url(tmp_path: Path) -> tuple[str, str | None]:
    if BACKEND != "postgres":
        return f"sqlite:///{tmp_path / 'migrations.db'}", None
    name = f"fbmig_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}", name


def _tables(url: str) -> set[str]:
    database = Database(url)
    try:
        with database.engine.connect() as conn:
            return set(inspect(conn).get_table_names()) - {"alembic_version"}
    finally:
        database.dispose()


def test_migrations_go_down_to_base_and_up_again(tmp_path):
    url, pg_name = _url(tmp_path)
    try:
        upgrade(url)
        assert _tables(url) >= set(Base.metadata.tables)
        downgrade(url, "base")
        assert _tables(url) == set(), "downgrade to base left tables behind"
        upgrade(url)
        downgrade(url, "-1")  # the head's own downgrade, then up once more
        upgrade(url)
        assert _tables(url) >= set(Base.metadata.tables)
    finally:
        if pg_name:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (pg_name,))
                conn.execute(f'DROP DATABASE IF EXISTS "{pg_name}"')
