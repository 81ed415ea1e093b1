"""Users, departments, memberships, roles and API tokens."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.clock import local_zone, utcnow
from app.data.db import Base
from app.data.types import UTCDateTime

#: Global roles. Department membership (staff, or head of it) is held by :class:`Membership`.
ROLES = ("quality_engineer", "manager", "designer", "auditor", "admin")


class Department(Base):
    __tablename__ = "department"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    def name(self, locale: str) -> str:
        return self.name_en if locale == "en" else self.name_zh


class User(Base):
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str | None] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    locale: Mapped[str] = mapped_column(String(8), default="zh")
    timezone: Mapped[str] = mapped_column(String(64), default=lambda: local_zone().key)  # the configured zone
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Raised to end every session and remember cookie of the user (sign-out, password change,
    # "sign out everywhere"): the login id carries it and the user loader compares it.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Sign-in throttling: failures since the last success, and the lockout end if any.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )
    roles: Mapped[list[UserRole]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )

    # Flask-Login protocol, kept here so the model needs no Flask import.
    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        """The login id: ``<id>:<session epoch>:<nonce>``, new (so the remember cookie differs)
        at every sign-in, kept for the session the user loader restored it from."""
        login_id = getattr(self, "login_id", None)
        if login_id is None:
            login_id = f"{self.id}:{self.session_epoch or 0}:{secrets.token_urlsafe(12)}"
            self.login_id = login_id
        return login_id

    @property
    def role_names(self) -> set[str]:
        return {r.role for r in self.roles}

    def has_role(self, *roles: str) -> bool:
        return bool(self.role_names.intersection(roles))

    @property
    def department_ids(self) -> set[int]:
        return {m.department_id for m in self.memberships}

    @property
    def head_of_ids(self) -> set[int]:
        return {m.department_id for m in self.memberships if m.is_head}


class Membership(Base):
    __tablename__ = "membership"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    department_id: Mapped[int] = mapped_column(
        ForeignKey("department.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    is_head: Mapped[bool] = mapped_column(Boolean, default=False)

    user: Mapped[User] = relationship(back_populates="memberships")
    department: Mapped[Department] = relationship(lazy="joined")


class UserRole(Base):
    __tablename__ = "user_role"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(40), primary_key=True)

    user: Mapped[User] = relationship(back_populates="roles")


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(lazy="joined")
