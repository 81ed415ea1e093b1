"""Users and departments: names, members, colleagues, substitutes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, cast

from sqlalchemy import JSON, Table, event, func, or_, select
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


@dataclass(frozen=True, slots=True)
class DepartmentRow:
    """A department as read for display and lookups (its code and names): a plain row, not the
    session's object — building the model's objects, registered in the session, cost a completion
    4 % of its instructions (docs/benchmarks.md, *E-mails, second cut*). Change a department
    through :class:`~app.data.models.Department`."""

    id: int
    code: str
    name_zh: str
    name_en: str
    active: bool

    def name(self, locale: str) -> str:
        return self.name_en if locale == "en" else self.name_zh

    @classmethod
    def of(cls, values: Sequence[Any]) -> DepartmentRow:
        """From ``(id, code, name_zh, name_en, active)`` as read (SQLite's JSON gives ``active`` as 0/1)."""
        dept_id, code, name_zh, name_en, active = values
        return cls(dept_id, code, name_zh, name_en, bool(active))


_department_table = cast(Table, Department.__table__)
#: every department's row (Core: the columns, no objects)
_DEPARTMENT_ROWS = select(_department_table.c.id, _department_table.c.code, _department_table.c.name_zh,
                          _department_table.c.name_en, _department_table.c.active)


def departments_by_id(session: Session) -> dict[int, DepartmentRow]:
    """Every department by id, read once per transaction: an operation's projection, its
    notifications and its response all need them; a completion reads them with its task
    (:func:`departments_column`). A change to a department in the session, a commit or a
    rollback forgets them."""
    cached = session.info.get(DEPARTMENTS_KEY)
    if cached is None:
        cached = session.info[DEPARTMENTS_KEY] = {
            row.id: DepartmentRow.of(row) for row in session.execute(_DEPARTMENT_ROWS)}
    return dict(cached)


def departments_column(dialect: str) -> Any:
    """Every department as one JSON array of ``[id, code, name_zh, name_en, active]`` rows, a
    scalar subquery to add to a statement an operation makes anyway (the completion's task read):
    :func:`adopt_departments` then keeps them for :func:`departments_by_id`."""
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
    read them already), without a statement."""
    if session.info.get(DEPARTMENTS_KEY) is not None or found is None:
        return
    session.info[DEPARTMENTS_KEY] = {row[0]: DepartmentRow.of(row) for row in found}


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
