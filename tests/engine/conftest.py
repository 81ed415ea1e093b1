"""Fixtures of the engine tests: a session on the test database with the departments in it."""

from __future__ import annotations

import pytest

from app.engine.context import Actor
from app.engine.definitions.deploy import deploy
from app.engine.runtime import WorkflowRuntime
from app.services.approvals import KINDS
from app.services.setup import ensure_departments, known_department_names
from tests.engine import forms


@pytest.fixture
def session(database):
    """A session on the empty test database, departments created and committed."""
    with database.transaction() as s:
        ensure_departments(s)
    s = database.session()
    yield s
    s.rollback()
    s.close()


@pytest.fixture
def runtime():
    return WorkflowRuntime()


@pytest.fixture
def actor():
    return Actor(None, "tester")


@pytest.fixture
def deploy_sources(session):
    """Deploy ``{file: xml}`` with the engine test forms, checking departments like the app does."""

    def _deploy(sources: dict[str, str], form_defs: dict | None = None):
        result = deploy(
            session, sources, forms() if form_defs is None else form_defs,
            known_departments=known_department_names(session), known_approvals=set(KINDS),
        )
        session.commit()
        return result

    return _deploy
