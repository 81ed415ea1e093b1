"""Who reads cases is one rule for the web and the API (they used to disagree on quality engineers)."""

from __future__ import annotations

from sqlalchemy import select

from app.data.models import Department
from app.services.accounts import save_user
from tests.api.helpers import INTAKE, auth, create_case
from tests.conftest import login


def _production_user(app, username: str, roles: set[str]) -> None:
    with app.extensions["database"].transaction() as s:
        production = s.scalar(select(Department.id).where(Department.code == "production"))
        save_user(s, username, username, password="demo", departments={production: False}, roles=roles)


def test_a_quality_engineer_reads_every_case_in_both_channels(app, client):
    """A quality engineer outside Quality (here in Production) reads every case, also one Production
    has no task in; a Production member without the role does not — on the case page and in the API."""
    _production_user(app, "qe_prod", {"quality_engineer"})
    _production_user(app, "plain_prod", set())
    case = create_case(client, auth(client, "marketing"), **INTAKE)
    for username, status in (("qe_prod", 200), ("plain_prod", 403)):
        api = client.get(f"/api/v1/cases/{case['id']}", headers=auth(client, username, "en")).status_code
        audit = client.get(f"/api/v1/audit?case={case['id']}", headers=auth(client, username, "en")).status_code
        web = app.test_client()
        login(web, username)
        page = web.get(f"/cases/{case['id']}").status_code
        listed = case["number"] in web.get("/cases/").get_data(as_text=True)
        assert (api, audit, page, listed) == (status, status, status, status == 200), username
