"""Tokens, authentication failures, health and the request language."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from app.clock import clock
from tests.api.helpers import assert_error, auth


def test_token_is_issued_with_expiry_from_config(app, client):
    before = clock.now()
    response = client.post("/api/v1/auth/token", json={"username": "marketing", "password": "demo"})
    assert response.status_code == 200
    body = response.get_json()
    assert len(body["token"]) >= 32
    assert body["expires_at"].endswith("Z")
    expires = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    ttl = timedelta(hours=app.config["API_TOKEN_TTL_HOURS"])
    assert before + ttl - timedelta(seconds=5) <= expires <= clock.now() + ttl + timedelta(seconds=5)
    ok = client.get("/api/v1/tasks", headers={"Authorization": f"Bearer {body['token']}"})
    assert ok.status_code == 200


def test_wrong_credentials_are_refused(client):
    for body in ({"username": "marketing", "password": "wrong"}, {"username": "nobody", "password": "demo"}):
        error = assert_error(client.post("/api/v1/auth/token", json=body), 401)
        assert "token" not in error


def test_token_request_with_wrong_types_or_bad_json(client):
    error = assert_error(client.post("/api/v1/auth/token", json={"username": 5, "password": ["demo"]}), 422)
    assert set(error["fields"]) == {"username", "password"}
    assert_error(client.post("/api/v1/auth/token", json=["marketing", "demo"]), 422)
    assert_error(client.post("/api/v1/auth/token", data="{username:", content_type="application/json"), 400)
    assert_error(client.post("/api/v1/auth/token"), 400)


def test_missing_and_invalid_tokens_answer_401_json(client):
    error = assert_error(client.get("/api/v1/tasks"), 401)
    assert "Bearer" in error["message"]
    response = client.get("/api/v1/tasks", headers={"Authorization": "Bearer not-a-token"})
    assert_error(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert_error(client.get("/api/v1/tasks", headers={"Authorization": "Basic bWFya2V0aW5nOmRlbW8="}), 401)
    assert_error(client.get("/api/v1/tasks", headers={"Authorization": "Bearer " + "x" * 5000}), 401)
    assert_error(client.post("/api/v1/cases", json={}), 401)
    assert_error(client.get("/api/v1/audit?case=1"), 401)


def test_expired_token_is_refused(app, client):
    headers = auth(client, "marketing")
    assert client.get("/api/v1/tasks", headers=headers).status_code == 200
    clock.advance(timedelta(hours=app.config["API_TOKEN_TTL_HOURS"]) - timedelta(minutes=1))
    assert client.get("/api/v1/tasks", headers=headers).status_code == 200
    clock.advance(timedelta(minutes=2))
    assert_error(client.get("/api/v1/tasks", headers=headers), 401)


def test_health_and_openapi_need_no_token(client):
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert client.get("/api/v1/openapi.json").get_json()["openapi"].startswith("3.1")


@pytest.fixture
def fresh_translations(app):
    """Flask-Babel caches catalogues process-wide: start and end with an empty cache."""
    from app.extensions import babel

    with app.app_context():
        babel.domain_instance.cache.clear()
    yield
    with app.app_context():
        babel.domain_instance.cache.clear()


def _app_with_catalogue(database, tmp_path):
    """An app on the test database whose Chinese catalogue translates "Task not found."."""
    from babel.messages.catalog import Catalog
    from babel.messages.mofile import write_mo

    from app import create_app
    from config import TestConfig

    folder = tmp_path / "translations" / "zh" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    catalog = Catalog(locale="zh")
    catalog.add("Task not found.", "未找到任务。")
    with open(folder / "messages.mo", "wb") as handle:
        write_mo(handle, catalog)

    class Cfg(TestConfig):
        DATABASE_URL = database.url
        BABEL_TRANSLATION_DIRECTORIES = str(tmp_path / "translations")

    return create_app(Cfg)


def test_messages_follow_accept_language_then_user_locale(app, database, tmp_path, fresh_translations):
    from app.data.models import User

    client = _app_with_catalogue(database, tmp_path).test_client()
    missing = "/api/v1/tasks/00000000-0000-0000-0000-000000000000"
    headers = auth(client, "quality")
    assert assert_error(client.get(missing, headers=headers), 404)["message"] == "未找到任务。"  # zh by default
    en = {**headers, "Accept-Language": "en-US,en;q=0.9"}
    assert assert_error(client.get(missing, headers=en), 404)["message"] == "Task not found."
    with database.transaction() as session:
        session.query(User).filter_by(username="quality").one().locale = "en"
    assert assert_error(client.get(missing, headers=headers), 404)["message"] == "Task not found."
    zh = {**headers, "Accept-Language": "zh-CN,zh;q=0.9"}
    assert assert_error(client.get(missing, headers=zh), 404)["message"] == "未找到任务。"
    # before authentication only the header counts
    assert assert_error(client.get("/api/v1/tasks", headers={"Accept-Language": "en"}), 401)["message"].startswith(
        "Authentication required"
    )


def test_form_labels_follow_the_language(client):
    from tests.api.helpers import INTAKE

    zh = auth(client, "marketing")
    en = auth(client, "marketing", lang="en")
    case = client.post("/api/v1/cases", json=INTAKE, headers=zh).get_json()
    task_id = client.get(f"/api/v1/cases/{case['id']}", headers=zh).get_json()["open_tasks"][0]["id"]
    zh_task = client.get(f"/api/v1/tasks/{task_id}", headers=zh).get_json()
    en_task = client.get(f"/api/v1/tasks/{task_id}", headers=en).get_json()
    assert zh_task["name"] == "核实反馈" and en_task["name"] == "Verify feedback"
    assert zh_task["form"]["fields"][0]["label"] == "信息完整"
    assert en_task["form"]["fields"][0]["label"] == "Information complete"
    bad = client.post(f"/api/v1/tasks/{task_id}/complete", json={"data": {}}, headers=en)
    assert assert_error(bad, 422)["fields"]["info_complete"] == ["This field is required."]


def test_validation_messages_follow_the_user_locale(app, client, database):
    from app.data.models import User
    from tests.api.helpers import INTAKE

    with database.transaction() as session:
        session.query(User).filter_by(username="marketing").one().locale = "en"
    headers = auth(client, "marketing")
    bad = {**INTAKE, "customer_name": ""}
    error = assert_error(client.post("/api/v1/cases", json=bad, headers=headers), 422)
    assert error["fields"]["customer_name"] == ["This field is required."]
    error = assert_error(client.post("/api/v1/cases", json=bad, headers={**headers, "Accept-Language": "zh"}), 422)
    assert error["fields"]["customer_name"] == ["此项为必填项。"]
