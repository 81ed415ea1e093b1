"""Shared fixtures: a migrated database (SQLite, or PostgreSQL with TEST_DB=postgres),
the Flask app on it with the fixture diagrams deployed, clients, and login helpers.

Every test starts from empty tables; the schema is migrated once per worker.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import uuid
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text

from app.clock import clock
from app.data.db import Base, Database
from app.data.migrate import upgrade
from app.services.accounts import set_hash_cost

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
PG_ADMIN = os.environ.get("TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
BACKEND = os.environ.get("TEST_DB", "sqlite")

# Real argon2id, at a cost that keeps seeding twenty users per test fast.
set_hash_cost(time_cost=1, memory_cost=1024)


def _pg_reachable() -> bool:
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def compile_translations(directory: Path = ROOT / "app" / "translations") -> list[Path]:
    """Compile each ``<locale>/LC_MESSAGES/*.po`` under ``directory`` to its ``.mo`` when that is
    missing or older, like ``make translations``, so that ``pytest`` in a clean clone passes.

    Each file is written under a temporary name and renamed into place: xdist workers or two
    runs compiling at once never read a half-written catalogue. Returns the files written.
    """
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    written = []
    for po in sorted(directory.glob("*/LC_MESSAGES/*.po")):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as source:
            catalog = read_po(source, locale=po.parents[1].name)
        if catalog.fuzzy:  # pybabel compile skips a catalogue marked fuzzy; so do we
            continue
        fd, tmp = tempfile.mkstemp(dir=mo.parent, prefix=f".{mo.stem}-", suffix=".mo.tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                write_mo(out, catalog)
            shutil.copymode(po, tmp)  # mkstemp creates it private
            os.replace(tmp, mo)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        written.append(mo)
    return written


def pytest_configure(config):
    compile_translations()
    if BACKEND == "postgres" and not _pg_reachable():
        if os.environ.get("CI") == "true":
            raise pytest.UsageError(f"CI=true requires PostgreSQL at {PG_ADMIN}; it is not reachable")
        pytest.exit("PostgreSQL is not reachable: the PostgreSQL run is skipped", returncode=0)


@pytest.fixture(scope="session")
def db_url(tmp_path_factory):
    """A freshly migrated database for this test worker."""
    if BACKEND == "postgres":
        worker = re.sub(r"[^a-z0-9]", "", os.environ.get("PYTEST_XDIST_WORKER", "main"))
        name = f"fbtest_{worker}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}"
        upgrade(url)
        yield url
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
            )
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        upgrade(url)
        yield url


def _truncate(database: Database) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with database.engine.begin() as conn:
        if database.dialect == "postgresql":
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(text(f'DELETE FROM "{table}"'))
            conn.execute(text("DELETE FROM sqlite_sequence")) if conn.execute(
                text("SELECT name FROM sqlite_master WHERE name='sqlite_sequence'")
            ).first() else None


@pytest.fixture
def database(db_url):
    """A Database on empty tables; the clock is reset afterwards."""
    database = Database(db_url)
    _truncate(database)
    yield database
    clock.reset()
    database.dispose()


@pytest.fixture
def app(database, tmp_path):
    """The Flask app on the test database, demo organisation seeded, fixture diagrams deployed."""
    from app import create_app
    from app.services.setup import deploy_folder, seed_demo
    from config import TestConfig

    class Cfg(TestConfig):
        DATABASE_URL = database.url
        BPMN_DIR = str(FIXTURES / "bpmn")
        FORMS_DIR = str(FIXTURES / "forms")
        UPLOAD_DIR = str(tmp_path / "uploads")

    flask_app = create_app(Cfg)
    with database.transaction() as session:
        seed_demo(session)
        deploy_folder(session, Cfg.BPMN_DIR, Cfg.FORMS_DIR)
    yield flask_app
    flask_app.extensions["database"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


def csrf_token(client, path: str = "/auth/login") -> str:
    """The CSRF token of the form at ``path``."""
    html = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def login(client, username: str, password: str = "demo"):
    """Sign in through the real login form (with its CSRF token)."""
    token = csrf_token(client)
    response = client.post(
        "/auth/login", data={"username": username, "password": password, "csrf_token": token}
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return response


def api_token(client, username: str, password: str = "demo") -> dict[str, str]:
    """Authorization headers for ``username`` via POST /api/v1/auth/token."""
    response = client.post("/api/v1/auth/token", json={"username": username, "password": password})
    assert response.status_code == 200, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['token']}"}
