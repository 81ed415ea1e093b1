"""Every change is an audit event, written by the one writer in the change's transaction: who
(with their roles and departments at that moment), from where (channel, client address behind
the configured proxies, user agent), what, and the data before and after."""

from __future__ import annotations

from sqlalchemy import select

from app.data.models import AuditEvent, Department, User
from app.engine import audit_chain
from tests.conftest import csrf_token, login
from tests.web.helpers import form_tokens, user_client

UA = {"User-Agent": "AuditTest/1.0"}


def _events(database, action: str) -> list[AuditEvent]:
    with database.session() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def _verify(database):
    with database.engine.connect() as conn:
        return audit_chain.verify(conn)


def test_logins_failed_logins_and_logouts_are_audited_with_origin(app, database):
    client = app.test_client()
    token = csrf_token(client)
    client.post("/auth/login", data={"username": "quality_head", "password": "wrong", "csrf_token": token},
                headers=UA, environ_base={"REMOTE_ADDR": "198.51.100.7"})
    client.post("/auth/login", data={"username": "nobody", "password": "x", "csrf_token": token}, headers=UA)
    response = client.post("/auth/login", data={"username": "quality_head", "password": "demo", "csrf_token": token},
                           headers=UA, environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert response.status_code == 302
    client.post("/auth/logout", data={"csrf_token": csrf_token(client, "/inbox/")}, headers=UA)
    wrong, unknown = _events(database, "login_failed")
    assert (wrong.actor_label, wrong.message, wrong.data_after) == ("质量部主管", "sign-in: wrong password",
                                                                    {"username": "quality_head"})
    assert (unknown.actor_id, unknown.actor_label, unknown.message) == (None, "anonymous", "sign-in: unknown user")
    [login_event] = _events(database, "login")
    assert (login_event.channel, login_event.client_address, login_event.user_agent) == (
        "web", "198.51.100.7", "AuditTest/1.0")
    assert login_event.actor_roles == ",head:quality," and login_event.actor_departments == ",quality,"
    [logout] = _events(database, "logout")
    assert logout.actor_id == login_event.actor_id and logout.channel == "web"

    assert client.post("/api/v1/auth/token", json={"username": "auditor", "password": "no"}).status_code == 401
    assert client.post("/api/v1/auth/token", json={"username": "auditor", "password": "demo"}).status_code == 200
    api_failed = _events(database, "login_failed")[-1]
    assert api_failed.channel == "api" and api_failed.message == "API token: wrong password"
    api_login = _events(database, "login")[-1]
    assert (api_login.channel, api_login.message, api_login.actor_roles) == ("api", "API token", ",auditor,")
    assert _verify(database).ok


def test_the_client_address_is_taken_behind_the_configured_proxies(database, tmp_path):
    from app import create_app
    from config import TestConfig
    from tests.conftest import FIXTURES

    class Proxied(TestConfig):
        DATABASE_URL = database.url
        BPMN_DIR, FORMS_DIR, UPLOAD_DIR = str(FIXTURES / "bpmn"), str(FIXTURES / "forms"), str(tmp_path)
        TRUSTED_PROXIES = 1

    flask_app = create_app(Proxied)
    client = flask_app.test_client()
    forwarded = {"X-Forwarded-For": "203.0.113.50, 192.0.2.1", **UA}
    client.post("/api/v1/auth/token", json={"username": "x", "password": "y"}, headers=forwarded,
                environ_base={"REMOTE_ADDR": "10.0.0.2"})
    # one trusted proxy: the address it saw connecting (the last one it appended), never the client's own claim
    assert _events(database, "login_failed")[-1].client_address == "192.0.2.1"
    flask_app.extensions["database"].dispose()


def test_user_roles_and_memberships_changes_are_audited_before_and_after(app, database):
    admin = user_client(app, "admin")
    with database.session() as s:
        production = s.scalar(select(Department.id).where(Department.code == "production"))
    token = form_tokens(admin.get("/admin/users/new").get_data(as_text=True))["csrf_token"]
    admin.post("/admin/users/new", data={
        "csrf_token": token, "username": "wang", "display_name": "王工", "locale": "zh", "active": "y",
        "password": "Secret-2026a", f"member_{production}": "y", "roles": ["quality_engineer"]})
    [created] = [e for e in _events(database, "user_created") if e.message == "wang"]
    assert created.data_before is None
    assert created.data_after["roles"] == ["quality_engineer"]
    assert created.data_after["departments"] == {"production": "staff"}
    assert "password_hash" not in created.data_after and created.actor_roles == ",admin,"
    with database.session() as s:
        user_id = s.scalar(select(User.id).where(User.username == "wang"))
    admin.post(f"/admin/users/{user_id}", data={
        "csrf_token": token, "username": "wang", "display_name": "王工", "locale": "zh", "active": "y",
        f"member_{production}": "y", f"head_{production}": "y", "password": "Secret-2026b"})
    [updated] = _events(database, "user_updated")
    assert updated.data_before["departments"] == {"production": "staff"}
    assert updated.data_after["departments"] == {"production": "head"}
    assert (updated.data_before["roles"], updated.data_after["roles"]) == (["quality_engineer"], [])
    assert updated.data_after["password"] == "changed"
    from app.services.audit_trail import changes_text

    assert "departments.production: staff → head" in changes_text(updated.data_before, updated.data_after)


def test_settings_and_calendar_changes_are_audited(app, database):
    admin = user_client(app, "admin")
    token = form_tokens(admin.get("/admin/settings").get_data(as_text=True))["csrf_token"]
    admin.post("/admin/settings", data={"logistics_basis": "per_share", "csrf_token": token})
    [changed] = _events(database, "setting_changed")
    assert (changed.data_before, changed.data_after) == ({"assessment.logistics_basis": "total_cost"},
                                                         {"assessment.logistics_basis": "per_share"})
    admin.post("/admin/calendar/", data={"csrf_token": token, "day": "2027-11-12", "working": "0", "note": "补休"})
    admin.post("/admin/calendar/", data={"csrf_token": token, "day": "2027-11-12", "working": "1"})
    admin.post("/admin/calendar/2027-11-12/delete", data={"csrf_token": token})
    first, second = _events(database, "calendar_override_set")
    assert first.data_before is None and first.data_after == {"day": "2027-11-12", "working": False, "note": "补休"}
    assert second.data_before["working"] is False and second.data_after["working"] is True
    [removed] = _events(database, "calendar_override_removed")
    assert removed.data_before["day"] == "2027-11-12" and removed.channel == "web"


def test_claim_release_substitutes_and_deploys_are_audited(app, database, client):
    from app.services.setup import deploy_folder
    from tests.api.helpers import auth, create_case, the_task

    marketing = auth(client, "marketing")
    case = create_case(client, marketing)
    task = the_task(client, marketing, case["id"], "verify")
    assert client.post(f"/api/v1/tasks/{task['id']}/claim", headers=marketing).status_code == 200
    assert client.post(f"/api/v1/tasks/{task['id']}/unclaim", headers=marketing).status_code == 200
    [claimed], [released] = _events(database, "task_claimed"), _events(database, "task_released")
    assert claimed.task_id == task["id"] and claimed.case_id == case["id"] and claimed.definition_id
    assert (claimed.data_after, released.data_before) == ({"assignee_id": claimed.actor_id},
                                                          {"assignee_id": claimed.actor_id})
    assert claimed.channel == "api" and claimed.actor_departments == ",marketing,"

    web = app.test_client()
    login(web, "marketing")
    with database.session() as s:
        colleague = s.scalar(select(User.id).where(User.username == "marketing_head"))  # same department
    token = csrf_token(web, "/inbox/substitutes")
    web.post("/inbox/substitutes", data={"csrf_token": token, "substitute_id": str(colleague),
                                         "starts_on": "2026-05-01", "ends_on": "2026-05-03"})
    [named] = _events(database, "substitute_named")
    assert named.data_after["substitute_id"] == colleague and named.data_after["ends_on"] == "2026-05-03"

    before = len(_events(database, "definition_deployed"))
    assert before > 0  # the fixture's deploy, by the system
    from tests.conftest import ROOT

    with database.transaction() as session:
        deploy_folder(session, ROOT / "bpmn", ROOT / "forms")
    deployed = _events(database, "definition_deployed")[before:]
    assert {e.element for e in deployed} >= {"feedback_case", "eight_d"}
    assert all(e.data_after["spec_hash"] and e.actor_label == "deploy" for e in deployed)
    assert _events(database, "form_deployed")
    assert _verify(database).ok


def test_the_scheduler_and_cli_are_their_own_channels(app, database):
    from app.scheduler.runner import _in_app, audit_head_job

    seq, digest = _in_app(app, "audit_head", audit_head_job, app)
    with database.session() as s:
        assert (seq, digest) == audit_chain.current_head(s)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["deploy"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0 and "OK" in result.output
    result = runner.invoke(args=["audit", "head"])
    assert result.output.startswith("seq=")
