"""Sign-in with throttling, per account and per client address.

- **Account**: after ``delay_after`` failures in a row each further attempt must wait a delay
  that doubles (1 s, 2 s, 4 s, ... up to ``max_delay``); after ``lock_after`` failures the
  account is locked for ``lock_minutes`` (audited: ``login_locked``). A success resets it; an
  administrator can unlock (audited: ``login_unlocked``).
- **Address**: more than ``address_limit`` failures from one client address within
  ``address_window`` refuse every attempt from it until the window has passed (audited once:
  ``login_address_blocked``), so one address cannot try many accounts.

While refused, the password is not checked at all, so a lockout cannot be used to test passwords.
The web form and the API token endpoint both sign in here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.clock import clock
from app.data.models import User
from app.engine import audit
from app.engine.context import Actor
from app.i18n import N_
from app.services import accounts, ratelimit
from app.services.errors import TooManyRequests

BUCKET = "login_ip"
THROTTLE_ACTOR = Actor.system("sign-in throttle")


@dataclass(frozen=True)
class Throttle:
    """The limits (from the ``LOGIN_*`` settings)."""

    delay_after: int = 3
    max_delay_seconds: int = 60
    lock_after: int = 10
    lock_minutes: int = 15
    address_limit: int = 30
    address_window_minutes: int = 15

    @classmethod
    def from_config(cls, config: Any) -> Throttle:
        names = {f: f"LOGIN_{f.upper()}" for f in cls.__dataclass_fields__}
        return cls(**{f: int(config[key]) for f, key in names.items() if key in config})

    @property
    def address_window(self) -> timedelta:
        return timedelta(minutes=self.address_window_minutes)


def _refuse(seconds: float) -> TooManyRequests:
    seconds = max(1, int(seconds + 0.999))
    return TooManyRequests(N_("Too many failed sign-ins. Please try again in %(seconds)d seconds."),
                           seconds=seconds, retry_after=seconds)


def _account(session: Session, username: str) -> User | None:
    return session.scalars(select(User).where(User.username == username.strip())).first()


def _fail(session: Session, user: User, throttle: Throttle, client: str) -> None:
    now = clock.now()
    user.failed_logins = (user.failed_logins or 0) + 1
    failures = user.failed_logins
    if failures >= throttle.lock_after:
        user.locked_until = now + timedelta(minutes=throttle.lock_minutes)
        if failures == throttle.lock_after:
            audit.record(session, actor=THROTTLE_ACTOR, action="login_locked",
                         message=f"{user.username} locked for {throttle.lock_minutes} min after "
                                 f"{failures} failed sign-ins (last from {client})",
                         after={"user_id": user.id, "locked_until": user.locked_until, "client": client})
    elif failures >= throttle.delay_after:
        delay = min(2 ** (failures - throttle.delay_after), throttle.max_delay_seconds)
        user.locked_until = now + timedelta(seconds=delay)


def sign_in(session: Session, username: str, password: str, client: str, throttle: Throttle,
            purpose: str = "sign-in") -> User | None:
    """The user with these credentials, or None after counting the failure; raises
    :class:`TooManyRequests` (without checking the password) while the account or address is
    throttled. The caller commits in both the success and the failure case."""
    client = (client or "unknown")[: ratelimit.CLIENT_LENGTH]
    window = throttle.address_window
    if ratelimit.hits(session, BUCKET, client, window) >= throttle.address_limit:
        raise _refuse(ratelimit.retry_after(session, BUCKET, client, window))
    user = _account(session, username)
    now = clock.now()
    if user is not None and user.locked_until is not None and user.locked_until > now:
        raise _refuse((user.locked_until - now).total_seconds())
    signed_in = accounts.authenticate(session, username, password, purpose=purpose)
    if signed_in is not None:
        signed_in.failed_logins = 0
        signed_in.locked_until = None
        return signed_in
    if ratelimit.record_hit(session, BUCKET, client, window) == throttle.address_limit:
        audit.record(session, actor=THROTTLE_ACTOR, action="login_address_blocked",
                     message=f"{client} blocked for {throttle.address_window_minutes} min after "
                             f"{throttle.address_limit} failed sign-ins",
                     after={"client": client})
    if user is not None:
        _fail(session, user, throttle, client)
    return None


def unlock(session: Session, admin: User, user: User) -> None:
    """An administrator lifts the account's lockout and delays (audited)."""
    was = {"failed_logins": user.failed_logins, "locked_until": user.locked_until}
    user.failed_logins = 0
    user.locked_until = None
    audit.record(session, actor=Actor(admin.id, admin.display_name or admin.username), action="login_unlocked",
                 message=f"{user.username} unlocked", before=was, after={"user_id": user.id})
    session.flush()


def is_locked(user: User) -> bool:
    return user.locked_until is not None and user.locked_until > clock.now()
