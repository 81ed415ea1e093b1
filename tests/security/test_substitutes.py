"""Substitutes only within the departments and rights of the person they stand in for."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from app.data.models import Department, User
from app.services import inbox as inbox_service
from app.services import policy
from app.services.accounts import save_user
from app.services.errors import InvalidInput

TODAY = date(2026, 3, 2)


def _user(s, username: str) -> User:
    return s.scalars(select(User).where(User.username == username)).one()


@pytest.mark.parametrize("candidate", ["auditor", "finance", "technical_head", "manager"])
def test_an_outsider_or_a_read_only_user_cannot_be_named(app, database, candidate):
    with database.transaction() as s, pytest.raises(InvalidInput):
        inbox_service.name_substitute(s, _user(s, "marketing"), _user(s, candidate).id, TODAY, TODAY)


def test_the_page_offers_only_colleagues_who_qualify(app, database):
    from tests.conftest import login

    client = app.test_client()
    login(client, "marketing")
    page = client.get("/inbox/substitutes").get_data(as_text=True)
    with database.transaction() as s:
        offered = {u.username for u in s.scalars(select(User)) if f'value="{u.id}"' in page}
    assert "marketing_head" in offered
    assert not offered & {"auditor", "finance", "quality", "manager", "admin"}


def test_an_auditor_in_the_department_is_still_refused(app, database):
    with database.transaction() as s:
        marketing = s.scalar(select(Department.id).where(Department.code == "marketing"))
        auditor = save_user(s, "dept_auditor", "审计", password="demo", departments={marketing: False},
                            roles={"auditor"})
        assert not policy.may_name_substitute(_user(s, "marketing"), auditor)


def test_a_substitute_who_leaves_the_department_stops_standing_in(app, database):
    from app.clock import clock, local_now

    clock.set(clock.now())
    today = local_now().date()
    with database.transaction() as s:
        deputy = _user(s, "marketing_head")
        inbox_service.name_substitute(s, _user(s, "marketing"), deputy.id, today, today)
        assert policy.stand_in(deputy).user_ids == {_user(s, "marketing").id}
    with database.transaction() as s:  # moved to another department
        finance = s.scalar(select(Department.id).where(Department.code == "finance"))
        deputy = _user(s, "marketing_head")
        save_user(s, deputy.username, deputy.display_name, user=deputy, departments={finance: False})
    with database.transaction() as s:
        assert policy.stand_in(_user(s, "marketing_head")).user_ids == frozenset()


def test_a_substitute_reaches_only_the_departments_both_share(app, database):
    from app.clock import clock, local_now

    clock.set(clock.now())
    today = local_now().date()
    with database.transaction() as s:
        codes = {d.code: d.id for d in s.scalars(select(Department))}
        principal = save_user(s, "two_hats", "两部门", password="demo",
                              departments={codes["marketing"]: False, codes["finance"]: True})
        deputy = _user(s, "marketing")
        inbox_service.name_substitute(s, principal, deputy.id, today, today)
        standing = policy.stand_in(deputy)
        assert standing.department_ids == {codes["marketing"]}
        assert all(not p.head_of_ids for p in standing.principals)
