"""Sign-in throttling per account and per address, lockout audited, admin unlock."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app.clock import clock
from app.data.models import AuditEvent, User
from tests.conftest import csrf_token, login


def _try(client, username: str, password: str, address: str = "10.0.0.1"):
    token = csrf_token(client)
    return client.post("/auth/login", data={"username": username, "password": password, "csrf_token": token},
                       environ_base={"REMOTE_ADDR": address})


def _token(client, username: str, password: str, address: str = "10.0.0.1"):
    return client.post("/api/v1/auth/token", json={"username": username, "password": password},
                       environ_base={"REMOTE_ADDR": address})


def _actions(database) -> list[str]:
    with database.transaction() as s:
        return list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_failed_sign_ins_get_growing_delays_then_a_lockout_that_the_admin_lifts(app, database):
    clock.set(clock.now())
    client = app.test_client()
    for _ in range(3):
        assert _try(client, "marketing", "wrong").status_code == 200
    # The third failure in a row starts a delay: even the right password waits (and is not checked).
    refused = _try(client, "marketing", "demo")
    assert refused.status_code == 429
    delays = []
    for _ in range(6):
        clock.advance(timedelta(seconds=61))
        assert _try(client, "marketing", "wrong").status_code == 200
        with database.transaction() as s:
            user = s.scalars(select(User).where(User.username == "marketing")).one()
            delays.append((user.locked_until - clock.now()).total_seconds())
    assert delays[:5] == sorted(delays[:5]) and delays[0] < delays[4], delays
    clock.advance(timedelta(seconds=61))
    assert _try(client, "marketing", "wrong").status_code == 200  # the tenth failure: locked
    assert "login_locked" in _actions(database)
    clock.advance(timedelta(minutes=5))
    assert _try(client, "marketing", "demo").status_code == 429
    assert _token(app.test_client(), "marketing", "demo").status_code == 429  # the API shares the lock

    admin = app.test_client()
    login(admin, "admin", "demo")
    with database.transaction() as s:
        user_id = s.scalar(select(User.id).where(User.username == "marketing"))
    page = admin.get(f"/admin/users/{user_id}").get_data(as_text=True)
    assert 'data-testid="unlock"' in page
    assert admin.post(f"/admin/users/{user_id}/unlock",
                      data={"csrf_token": csrf_token(admin, "/admin/users")}).status_code == 302
    assert "login_unlocked" in _actions(database)
    assert _try(client, "marketing", "demo").status_code == 302
    with database.transaction() as s:
        user = s.get(User, user_id)
        assert user.failed_logins == 0 and user.locked_until is None


def test_the_lockout_ends_by_itself(app, database):
    clock.set(clock.now())
    client = app.test_client()
    for _ in range(10):
        clock.advance(timedelta(seconds=61))
        _try(client, "quality", "wrong")
    assert _try(client, "quality", "demo").status_code == 429
    clock.advance(timedelta(minutes=16))
    assert _try(client, "quality", "demo").status_code == 302


def test_one_address_cannot_try_many_accounts(app, database):
    app.config["LOGIN_ADDRESS_LIMIT"] = 5
    clock.set(clock.now())
    client = app.test_client()
    names = ["marketing", "quality", "finance", "technical", "production"]
    for name in names:
        assert _token(client, name, "wrong", "203.0.113.9").status_code == 401
    refused = _token(client, "warehouse", "demo", "203.0.113.9")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert refused.get_json()["error"]["status"] == 429
    assert "login_address_blocked" in _actions(database)
    assert _token(client, "warehouse", "demo", "198.51.100.7").status_code == 200  # other addresses are fine
    clock.advance(timedelta(minutes=16))
    assert _token(client, "warehouse", "demo", "203.0.113.9").status_code == 200


def test_a_success_resets_the_count(app, database):
    client = app.test_client()
    for _ in range(2):
        _try(client, "finance", "wrong")
    assert _try(client, "finance", "demo").status_code == 302
    with database.transaction() as s:
        assert s.scalars(select(User).where(User.username == "finance")).one().failed_logins == 0
