"""Rate limits on the public endpoints see the real client behind the configured proxies."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.clock import clock
from tests.conftest import FIXTURES, ROOT


@pytest.fixture
def proxied_app(database, tmp_path):
    """The app as deployed behind one TLS proxy (TRUSTED_PROXIES=1)."""
    from app import create_app
    from app.services.setup import deploy_folder, seed_demo
    from config import TestConfig

    class Cfg(TestConfig):
        DATABASE_URL = database.url
        BPMN_DIR = str(FIXTURES / "bpmn")
        FORMS_DIR = str(FIXTURES / "forms")
        UPLOAD_DIR = str(tmp_path / "uploads")
        TRUSTED_PROXIES = 1
        PUBLIC_REQUEST_LIMIT = 5
        PUBLIC_TOKEN_MISS_LIMIT = 3

    app = create_app(Cfg)
    with database.transaction() as session:
        seed_demo(session)
        deploy_folder(session, ROOT / "bpmn", ROOT / "forms")
    yield app
    app.extensions["database"].dispose()


def _get(client, path: str, forwarded_for: str, **headers: str):
    return client.get(path, headers={"X-Forwarded-For": forwarded_for, **headers},
                      environ_base={"REMOTE_ADDR": "10.0.0.2"})  # every request arrives from the proxy


def test_customers_behind_the_proxy_have_their_own_buckets(proxied_app):
    clock.set(clock.now())
    client = proxied_app.test_client()
    for _ in range(5):
        assert _get(client, "/feedback", "198.51.100.1").status_code == 200
    refused = _get(client, "/feedback", "198.51.100.1")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert _get(client, "/feedback", "198.51.100.2").status_code == 200  # another customer
    # Only the proxy's own entry counts: a client cannot prepend a forged address.
    assert _get(client, "/feedback", "203.0.113.5, 198.51.100.1").status_code == 429
    api = _get(client, "/api/v1/openapi.json", "198.51.100.1")
    assert api.status_code == 429 and api.get_json()["error"]["status"] == 429
    clock.advance(timedelta(minutes=2))
    assert _get(client, "/feedback", "198.51.100.1").status_code == 200


def test_wrong_public_links_are_limited(proxied_app):
    proxied_app.config["PUBLIC_REQUEST_LIMIT"] = 1000
    clock.set(clock.now())
    client = proxied_app.test_client()
    for n in range(3):
        assert _get(client, f"/status/guess{n}", "198.51.100.3").status_code == 404
    assert _get(client, "/status/guess9", "198.51.100.3").status_code == 429
    assert _get(client, "/survey/guess9", "198.51.100.3").status_code == 429
    assert _get(client, "/status/guess9", "198.51.100.4").status_code == 404
    clock.advance(timedelta(hours=1, minutes=1))
    assert _get(client, "/status/guess9", "198.51.100.3").status_code == 404


def test_without_trusted_proxies_the_forwarded_header_is_ignored(app):
    app.config["PUBLIC_REQUEST_LIMIT"] = 2
    clock.set(clock.now())
    client = app.test_client()
    for n in range(2):
        assert _get(client, "/feedback", f"198.51.100.{n}").status_code == 200
    assert _get(client, "/feedback", "198.51.100.99").status_code == 429
