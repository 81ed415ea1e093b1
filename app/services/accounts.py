"""Accounts: password hashing, authentication, API tokens, and user administration."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.clock import clock
from app.data.models import ROLES, ApiToken, Department, Membership, User, UserRole
from app.i18n import N_

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


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user with these credentials, or None."""
    user = session.scalars(select(User).where(User.username == username.strip())).first()
    if user is None:
        verify_password(_DUMMY_HASH, password)
        return None
    if not verify_password(user.password_hash, password) or not user.active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = clock.now()
    return user


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


def user_for_token(session: Session, token: str) -> User | None:
    row = session.scalars(select(ApiToken).where(ApiToken.token_hash == _token_hash(token))).first()
    if row is None or row.expires_at <= clock.now() or not row.user.active:
        return None
    return row.user


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
) -> User:
    """Create or update a user with their department memberships ({dept_id: is_head}) and roles."""
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
        user.password_hash = hash_password(password)
    if departments is not None:
        user.memberships = [
            Membership(department_id=dept_id, is_head=is_head) for dept_id, is_head in departments.items()
        ]
    if roles is not None:
        user.roles = [UserRole(role=role) for role in sorted(roles)]
    session.flush()
    return user


def users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))
