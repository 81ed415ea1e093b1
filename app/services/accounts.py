"""Accounts: password hashing, authentication (logins and failed logins are audited), API
tokens, and user administration (every change of a user, their roles and memberships is audited)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session, joinedload

from app.clock import clock
from app.data.models import ROLES, ApiToken, Department, Membership, User, UserRole
from app.engine import audit
from app.engine.context import Actor
from app.i18n import N_

USERNAME_IN_AUDIT = 80  # how much of a failed login's username the audit trail keeps

_hasher = PasswordHasher()
# Verifying against this keeps the time of a login for an unknown user the same.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def set_hash_cost(time_cost: int, memory_cost: int) -> None:
    """Change the argon2 cost of new hashes (the test suite lowers it; production keeps the default)."""
    global _hasher, _DUMMY_HASH
    _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=1)
    _DUMMY_HASH = _hasher.hash("not-a-real-password")


class AccountError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def user_standing(user: User) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The user's roles (with ``head:<code>`` for each department they head) and department
    codes right now, as the audit trail keeps them."""
    codes = {m.department_id: m.department.code for m in user.memberships if m.department is not None}
    heads = sorted(f"head:{codes[m.department_id]}" for m in user.memberships if m.is_head and m.department_id in codes)
    return (*sorted(user.role_names), *heads), tuple(sorted(codes.values()))


def actor(user: User, label: str | None = None) -> Actor:
    """The audit actor for ``user`` acting in their own right."""
    return Actor(user.id, (label or user.display_name or user.username)[:120], *user_standing(user))


def authenticate(session: Session, username: str, password: str, purpose: str = "sign-in") -> User | None:
    """The active user with these credentials, or None. Both outcomes are audited (``login``,
    ``login_failed`` with the reason) in the caller's transaction, which must commit either way."""
    attempted = username.strip()
    user = session.scalars(select(User).where(User.username == attempted)).first()
    if user is None:
        verify_password(_DUMMY_HASH, password)
        record_failed_login(session, None, attempted, "unknown user", purpose)
        return None
    if not verify_password(user.password_hash, password):
        record_failed_login(session, user, attempted, "wrong password", purpose)
        return None
    if not user.active:
        record_failed_login(session, user, attempted, "inactive account", purpose)
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = clock.now()
    audit.record(session, actor=actor(user), action="login", message=purpose)
    return user


def record_failed_login(session: Session, user: User | None, attempted: str, reason: str, purpose: str) -> None:
    who = actor(user) if user is not None else Actor(None, "anonymous")
    audit.record(session, actor=who, action="login_failed", message=f"{purpose}: {reason}",
                 after={"username": attempted[:USERNAME_IN_AUDIT]})


def record_logout(session: Session, user: User) -> None:
    audit.record(session, actor=actor(user), action="logout")


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(session: Session, user: User, ttl_hours: int = 12) -> tuple[str, ApiToken]:
    """A new bearer token for ``user``; only its hash is stored."""
    token = secrets.token_urlsafe(32)
    row = ApiToken(
        token_hash=_token_hash(token),
        user_id=user.id,
        created_at=clock.now(),
        expires_at=clock.now() + timedelta(hours=ttl_hours),
    )
    session.add(row)
    session.flush()
    return token, row


#: the token read of every API request, built once with a bound hash (building the select and
#: its joined loads anew cost about as much CPU as running it): the user with their memberships
#: and roles, and the token's expiry as a column (loading the token as an entity too was wasted)
_TOKEN_USER = (
    select(User, ApiToken.expires_at).join(ApiToken, ApiToken.user_id == User.id)
    .where(ApiToken.token_hash == bindparam("token_hash"))
    .options(joinedload(User.memberships), joinedload(User.roles))
)


def user_for_token(session: Session, token: str) -> User | None:
    """The active user of an unexpired API token. One query (every API request makes it): the
    token's expiry, its user and the user's memberships and roles joined."""
    row = session.execute(_TOKEN_USER, {"token_hash": _token_hash(token)}).unique().first()
    if row is None:
        return None
    user, expires_at = row
    return user if expires_at > clock.now() and user.active else None


def departments(session: Session) -> list[Department]:
    return list(session.scalars(select(Department).order_by(Department.id)))


def department_by_code(session: Session, code: str) -> Department | None:
    return session.scalars(select(Department).where(Department.code == code)).first()


def save_user(
    session: Session,
    username: str,
    display_name: str,
    *,
    user: User | None = None,
    password: str | None = None,
    email: str | None = None,
    locale: str = "zh",
    departments: dict[int, bool] | None = None,
    roles: set[str] | None = None,
    active: bool = True,
    by: Actor | None = None,
    check_policy: bool = False,
) -> User:
    """Create or update a user with their department memberships ({dept_id: is_head}) and roles;
    the change is audited (``user_created``/``user_updated``, before and after) as done ``by``.

    ``check_policy`` holds a new password to :func:`password_problem` (administrators setting
    passwords; the demo data keeps its short ones). A changed password ends every session."""
    before = user_snapshot(session, user) if user is not None else None
    username = username.strip()
    clash = session.scalars(select(User).where(User.username == username)).first()
    if clash is not None and clash is not user:
        raise AccountError(N_("This username is already taken."))
    unknown = set(roles or ()) - set(ROLES)
    if unknown:
        raise AccountError(N_("Unknown role."))
    if user is None:
        if not password:
            raise AccountError(N_("A new user needs a password."))
        user = User(username=username, display_name=display_name, password_hash="")
        session.add(user)
    user.username = username
    user.display_name = display_name
    user.email = email or None
    user.locale = locale if locale in ("zh", "en") else "zh"
    user.active = active
    if password:
        if len(password) < 4:
            raise AccountError(N_("The password is too short."))
        if check_policy:
            problem = password_problem(password, username)
            if problem is not None:
                raise AccountError(problem)
        changed = bool(user.password_hash)
        user.password_hash = hash_password(password)
        if changed:  # a new password ends every session and token made with the old one
            session.flush()
            end_sessions(session, user, api_tokens=True)
    if departments is not None:
        user.memberships = [
            Membership(department_id=dept_id, is_head=is_head) for dept_id, is_head in departments.items()
        ]
    if roles is not None:
        user.roles = [UserRole(role=role) for role in sorted(roles)]
    session.flush()
    after = user_snapshot(session, user)
    if password and before is not None:
        before, after = {**before, "password": "—"}, {**after, "password": "changed"}
    if after != before:
        action = "user_created" if before is None else "user_updated"
        audit.record(session, actor=by or Actor.system("setup"), action=action, message=user.username,
                     before=before, after=after)
    return user


def user_snapshot(_session: Session, user: User) -> dict[str, Any]:
    """What the audit trail keeps of a user: names, e-mail, language, active, roles, and each
    department with staff/head (never the password hash)."""
    return {
        "username": user.username, "display_name": user.display_name, "email": user.email, "locale": user.locale,
        "active": user.active, "roles": sorted(user.role_names),
        "departments": {m.department.code if m.department else str(m.department_id): "head" if m.is_head else "staff"
                        for m in sorted(user.memberships, key=lambda m: m.department_id)},
    }


def end_sessions(session: Session, user: User, *, api_tokens: bool = False) -> None:
    """End every browser session and remember cookie of ``user`` (and, with ``api_tokens``,
    every bearer token): their login ids carry the old session epoch, which no longer matches."""
    user.session_epoch = (user.session_epoch or 0) + 1
    if api_tokens:
        session.execute(delete(ApiToken).where(ApiToken.user_id == user.id))
    session.flush()


#: a signed-in user with what every page asks of them (memberships with their departments, roles)
#: in one statement, on every request (the collections' own loading is a statement each)
_WITH_RIGHTS = (joinedload(User.memberships).joinedload(Membership.department), joinedload(User.roles))


def user_for_login_id(session: Session, login_id: str) -> User | None:
    """The active user a login id (``<id>:<epoch>:<nonce>``, see ``User.get_id``) belongs to,
    while its epoch is current; None for a revoked, malformed or old-style id."""
    parts = login_id.split(":")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit() or len(parts[0]) > 10:
        return None
    user = session.get(User, int(parts[0]), options=_WITH_RIGHTS)
    if user is None or not user.active or int(parts[1]) != (user.session_epoch or 0):
        return None
    user.login_id = login_id  # kept, so the session and its remember cookie stay the same
    return user


#: Minimum length of a new password set by an administrator.
PASSWORD_MIN_LENGTH = 10
_COMMON_PASSWORDS = frozenset({
    "password", "password1", "password123", "123456789", "1234567890", "12345678", "qwertyuiop",
    "11111111", "00000000", "iloveyou", "admin12345", "abc123456", "qwerty123", "1q2w3e4r5t",
    "letmein123", "welcome123", "passw0rd", "p@ssw0rd", "changeme", "a123456789",
})


PASSWORD_PROBLEMS = (
    N_("The password must have at least 10 characters."),
    N_("This password is too easy to guess; choose another one."),
    N_("The password must mix letters with digits or other characters."),
)


def password_problem(password: str, username: str = "") -> str | None:
    """Why a new password is refused (a catalogue msgid), or None: at least 10 characters,
    letters and digits or other characters, not the username, not a well-known password."""
    if len(password) < PASSWORD_MIN_LENGTH:
        return N_("The password must have at least 10 characters.")
    lowered = password.lower()
    if lowered in _COMMON_PASSWORDS or (username and username.strip().lower() in lowered):
        return N_("This password is too easy to guess; choose another one.")
    has_letter = any(c.isalpha() for c in password)
    has_other = any(not c.isalpha() for c in password)
    if not (has_letter and has_other) or len(set(password)) < 4:
        return N_("The password must mix letters with digits or other characters.")
    return None


def users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))
