"""Server-side sign-out: copied cookies die with logout, password change and "sign out everywhere"."""

from __future__ import annotations

from sqlalchemy import func, select

from app.data.models import ApiToken, User
from tests.conftest import csrf_token, login


def _cookie(client, name: str) -> str | None:
    cookie = client.get_cookie(name)
    return cookie.value if cookie is not None else None


def _sign_in(client, username: str = "marketing", remember: bool = False):
    data = {"username": username, "password": "demo", "csrf_token": csrf_token(client)}
    if remember:
        data["remember_me"] = "y"
    response = client.post("/auth/login", data=data)
    assert response.status_code == 302
    return response


def _opens_inbox(app, **cookies: str) -> bool:
    thief = app.test_client()
    for name, value in cookies.items():
        thief.set_cookie(name, value)
    return thief.get("/inbox/").status_code == 200


def _logout(client) -> None:
    token = csrf_token(client, "/inbox/")
    assert client.post("/auth/logout", data={"csrf_token": token}).status_code == 302


def test_a_copied_session_cookie_stops_working_after_logout(app):
    client = app.test_client()
    _sign_in(client)
    copied = _cookie(client, "session")
    assert _opens_inbox(app, session=copied)
    _logout(client)
    assert not _opens_inbox(app, session=copied)
    assert client.get("/inbox/").status_code == 302


def test_remember_tokens_differ_per_sign_in_and_die_with_logout(app):
    first, second = app.test_client(), app.test_client()
    _sign_in(first, remember=True)
    _sign_in(second, remember=True)
    token_one, token_two = _cookie(first, "remember_token"), _cookie(second, "remember_token")
    assert token_one and token_two and token_one != token_two
    assert _opens_inbox(app, remember_token=token_one)
    _logout(first)
    assert not _opens_inbox(app, remember_token=token_one)
    assert not _opens_inbox(app, remember_token=token_two)  # logout ends the user's sessions everywhere
    assert second.get("/inbox/").status_code == 302


def test_cookies_are_http_only_and_same_site_lax(app):
    client = app.test_client()
    response = _sign_in(client, remember=True)
    cookies = {c.split("=", 1)[0]: c for c in response.headers.getlist("Set-Cookie")}
    for name in ("session", "remember_token"):
        assert "HttpOnly" in cookies[name] and "SameSite=Lax" in cookies[name], cookies[name]


def test_production_sets_secure_cookies():
    from config import ProductionConfig

    assert ProductionConfig.SESSION_COOKIE_SECURE is True
    assert ProductionConfig.REMEMBER_COOKIE_SECURE is True
    assert ProductionConfig.REMEMBER_COOKIE_SAMESITE == "Lax"


def _api_token(client, username: str = "marketing") -> str:
    response = client.post("/api/v1/auth/token", json={"username": username, "password": "demo"})
    assert response.status_code == 200
    return response.get_json()["token"]


def test_admin_signs_a_user_out_everywhere(app, database):
    victim = app.test_client()
    _sign_in(victim, remember=True)
    copied = {"session": _cookie(victim, "session"), "remember_token": _cookie(victim, "remember_token")}
    token = _api_token(victim)
    admin = app.test_client()
    login(admin, "admin")
    with database.transaction() as s:
        user_id = s.scalar(select(User.id).where(User.username == "marketing"))
    page = admin.get(f"/admin/users/{user_id}")
    assert 'data-testid="sign-out-everywhere"' in page.get_data(as_text=True)
    response = admin.post(f"/admin/users/{user_id}/sign-out", data={"csrf_token": csrf_token(admin, "/admin/users")})
    assert response.status_code == 302
    assert not _opens_inbox(app, session=copied["session"])
    assert not _opens_inbox(app, remember_token=copied["remember_token"])
    api = app.test_client().get("/api/v1/tasks", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 401
    with database.transaction() as s:
        assert s.scalar(select(func.count()).select_from(ApiToken).where(ApiToken.user_id == user_id)) == 0
    login(victim, "marketing")  # signing in again works
    assert victim.get("/inbox/").status_code == 200


def test_a_new_password_ends_the_old_sessions_and_must_follow_the_policy(app, database):
    victim = app.test_client()
    _sign_in(victim)
    admin = app.test_client()
    login(admin, "admin")
    with database.transaction() as s:
        user = s.scalars(select(User).where(User.username == "marketing")).one()
        user_id, fields = user.id, {"username": user.username, "display_name": user.display_name,
                                    "email": user.email or "", "locale": user.locale, "active": "y"}
    form = f"/admin/users/{user_id}"
    weak = admin.post(form, data={**fields, "password": "short1", "csrf_token": csrf_token(admin, form)})
    assert weak.status_code == 422
    assert "at least 10 characters" in weak.get_data(as_text=True) or "至少" in weak.get_data(as_text=True)
    assert victim.get("/inbox/").status_code == 200  # nothing changed yet
    for guessable in ("password123", "marketing2026", "abcdefghijkl"):
        refused = admin.post(form, data={**fields, "password": guessable, "csrf_token": csrf_token(admin, form)})
        assert refused.status_code == 422, guessable
    good = admin.post(form, data={**fields, "password": "Kettle-Orbit-42", "csrf_token": csrf_token(admin, form)})
    assert good.status_code == 302
    assert victim.get("/inbox/").status_code == 302
    login(victim, "marketing", "Kettle-Orbit-42")
