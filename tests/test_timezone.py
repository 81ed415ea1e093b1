"""One local time zone, from APP_TIMEZONE: read once by config.py, used by every layer."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from app.clock import clock, local_zone, set_local_zone
from app.data.models import User
from tests.api.helpers import auth, create_case
from tests.conftest import FIXTURES, ROOT

#: Monday 9 March 2026 02:00 UTC: Monday 10:00 in Shanghai, still Sunday 22:00 in New York.
MONDAY_IN_ASIA = "datetime(2026, 3, 9, 2, 0, tzinfo=UTC)"

PROBE = f"""
from datetime import UTC, datetime
from config import Config
from app.clock import local_zone
from app.engine.calendar import default_calendar
from app.services.weekly import assessed_week
print(Config.TIMEZONE, Config.BABEL_DEFAULT_TIMEZONE, local_zone().key, default_calendar().tz.key,
      assessed_week({MONDAY_IN_ASIA})[2])
"""


def _probe(zone: str | None) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "APP_TIMEZONE"}
    if zone:
        env["APP_TIMEZONE"] = zone
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_app_timezone_is_read_from_the_environment():
    # The week assessed on that instant is the one before "today": in Shanghai today is
    # Monday 9 March (week 11, so week 10 is assessed), in New York still Sunday 8 March.
    assert _probe(None) == ["Asia/Shanghai"] * 4 + ["2026-W10"]
    assert _probe("America/New_York") == ["America/New_York"] * 4 + ["2026-W09"]


@pytest.fixture
def new_york_app(database, tmp_path):
    """The app configured for New York; the configured zone is restored afterwards."""
    from app import create_app
    from app.services.setup import deploy_folder, seed_demo
    from config import TestConfig

    class Cfg(TestConfig):
        DATABASE_URL = database.url
        BPMN_DIR = str(FIXTURES / "bpmn")
        FORMS_DIR = str(FIXTURES / "forms")
        UPLOAD_DIR = str(tmp_path / "uploads")
        TIMEZONE = "America/New_York"

    flask_app = create_app(Cfg)
    try:
        with database.transaction() as session:
            seed_demo(session)
            deploy_folder(session, Cfg.BPMN_DIR, Cfg.FORMS_DIR)
        yield flask_app
    finally:
        flask_app.extensions["database"].dispose()
        set_local_zone(TestConfig.TIMEZONE)


def test_the_configured_zone_decides_local_dates(new_york_app, database):
    assert local_zone().key == "America/New_York"
    assert new_york_app.config["BABEL_DEFAULT_TIMEZONE"] == "America/New_York"
    with database.transaction() as session:
        assert set(session.scalars(select(User.timezone))) == {"America/New_York"}  # new users
    # New Year's Eve 20:00 UTC is already 2026 in Shanghai, still 2025 in New York:
    # the case number carries the local year.
    clock.set(datetime(2025, 12, 31, 20, 0, tzinfo=UTC))
    client = new_york_app.test_client()
    case = create_case(client, auth(client, "marketing"))
    assert case["number"].startswith("FB-2025-")
