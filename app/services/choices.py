"""Choice lists for people and department pickers, read from the database."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.data.models import Department, User


class DatabaseChoices:
    """A formkit ChoiceSource over the users and departments tables."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def user_choices(self) -> list[tuple[str, str]]:
        rows = self.session.execute(
            select(User.username, User.display_name).where(User.active.is_(True)).order_by(User.username)
        )
        return [(username, f"{name} ({username})") for username, name in rows]

    def department_choices(self, locale: str) -> list[tuple[str, str]]:
        rows = self.session.scalars(select(Department).where(Department.active.is_(True)).order_by(Department.id))
        return [(d.code, d.name(locale)) for d in rows]
