"""Fixtures of the designer tests: a signed-in designer client and a session on the app's database."""

from __future__ import annotations

import pytest

from tests.conftest import login


@pytest.fixture
def designer(client):
    login(client, "designer")
    return client


@pytest.fixture
def session(app):
    s = app.extensions["database"].session()
    yield s
    s.rollback()
    s.close()
