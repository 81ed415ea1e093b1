"""Fixtures for the public pages: the production diagrams and forms deployed on top of the
test fixtures (the public form uses the production ``case_intake`` with its attachments)."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT


@pytest.fixture
def prod_app(app, database):
    from app.services.setup import deploy_folder

    with database.transaction() as session:
        deploy_folder(session, ROOT / "bpmn", ROOT / "forms")
    return app
