"""Users and departments: names, members, colleagues, substitutes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import event, or_, select
from sqlalchemy.orm import Session

from app.data.models import Department, Membership, Substitution, User
from app.data.transaction_memo import transaction_key


def user_names(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return {key: value for key, value in session.execute(select(User.id, User.display_name).where(User.id.in_(ids)))}


def usernames(session: Session, ids: set[int]) -> dict[int, str]:
    """Login names by user id (for API payloads)."""
    if not ids:
        return {}
    return {key: value for key, value in session.execute(select(User.id, User.username).where(User.id.in_(ids)))}


#: ``Session.info`` key of the departments read in the current transaction
DEPARTMENTS_KEY = transaction_key("people.departments")


def departments_by_id(session: Session) -> dict[int, Department]:
    """Every department by id, read once per transaction: an operation's projection, its
    notifications and its response all need them (the session keeps them, so ``session.get``
    of a department hits its identity map). A change to a department in the session, a commit
    or a rollback forgets them."""
    cached = session.info.get(DEPARTMENTS_KEY)
    if cached is None:
        cached = session.info[DEPARTMENTS_KEY] = {d.id: d for d in session.scalars(select(Department))}
    return dict(cached)


@event.listens_for(Session, "after_flush")
def _forget_changed_departments(session: Session, _context: Any) -> None:
    if any(isinstance(o, Department) for o in (*session.new, *session.dirty, *session.deleted)):
        session.info.pop(DEPARTMENTS_KEY, None)


def department_members(session: Session) -> dict[int, list[tuple[User, bool]]]:
    """Active and inactive members of every department as (user, is_head)."""
    members: dict[int, list[tuple[User, bool]]] = {}
    for user in session.scalars(select(User).order_by(User.username)):
        for membership in user.memberships:
            members.setdefault(membership.department_id, []).append((user, membership.is_head))
    return members


def substituted_users(session: Session, substitute_id: int, day: date) -> Sequence[User]:
    """The users ``substitute_id`` stands in for on ``day``."""
    return session.scalars(
        select(User).where(User.id.in_(select(Substitution.user_id).where(
            Substitution.substitute_id == substitute_id, Substitution.starts_on <= day, Substitution.ends_on >= day,
        )), User.active.is_(True))
    ).all()


def substitutions_of(session: Session, user_id: int) -> Sequence[Substitution]:
    """Substitutions a user named for themselves or was named for, newest first."""
    return session.scalars(select(Substitution).where(
        or_(Substitution.user_id == user_id, Substitution.substitute_id == user_id)
    ).order_by(Substitution.starts_on.desc(), Substitution.id.desc())).all()


def department_colleagues(session: Session, department_id: int) -> Sequence[User]:
    """Active members of a department."""
    return session.scalars(
        select(User).join(Membership, Membership.user_id == User.id)
        .where(Membership.department_id == department_id, User.active.is_(True)).order_by(User.username)
    ).all()
