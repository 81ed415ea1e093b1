"""Users and departments: names, members, colleagues, substitutes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import JSON, event, func, inspect, or_, select
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.util import identity_key

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
    of a department hits its identity map); a completion reads them with its task
    (:func:`departments_column`). A change to a department in the session, a commit or a
    rollback forgets them."""
    cached = session.info.get(DEPARTMENTS_KEY)
    if cached is None:
        cached = session.info[DEPARTMENTS_KEY] = {d.id: d for d in session.scalars(select(Department))}
    return dict(cached)


def departments_column(dialect: str) -> Any:
    """Every department as one JSON array of ``[id, code, name_zh, name_en, active]`` rows, a
    scalar subquery to add to a statement an operation makes anyway (the completion's task read):
    :func:`adopt_departments` then puts them in the session for :func:`departments_by_id`."""
    # typed JSON, so both drivers' results come back decoded (SQLite gives the aggregate as text)
    if dialect == "postgresql":
        rows = func.json_agg(func.json_build_array(Department.id, Department.code, Department.name_zh,
                                                   Department.name_en, Department.active), type_=JSON)
    else:
        rows = func.json_group_array(func.json_array(Department.id, Department.code, Department.name_zh,
                                                     Department.name_en, Department.active), type_=JSON)
    return select(rows).scalar_subquery().label("departments")


def adopt_departments(session: Session, found: Any) -> None:
    """Take the departments :func:`departments_column` read as this transaction's (unless it has
    read them already): each is the session's object for its row — the one it holds, or one made
    from the values read, as a query would have loaded it, without a statement."""
    if session.info.get(DEPARTMENTS_KEY) is not None or found is None:
        return
    departments: dict[int, Department] = {}
    held_by_key = session.identity_map
    for dept_id, code, name_zh, name_en, active in found:
        held = held_by_key.get(identity_key(Department, dept_id))
        if held is None:
            # as a query loads a row: the values put in place (not set through the attributes,
            # which would record them as changes only for make_transient_to_detached to drop)
            held = _DEPARTMENT_CLASS.new_instance()
            held.__dict__.update(id=dept_id, code=code, name_zh=name_zh, name_en=name_en, active=bool(active))
            make_transient_to_detached(held)
            session.add(held)
        departments[dept_id] = held
    session.info[DEPARTMENTS_KEY] = departments


_DEPARTMENT_CLASS = inspect(Department).class_manager


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
