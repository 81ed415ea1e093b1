"""POST /cases and GET /cases/{id}."""

from __future__ import annotations

import re

from app.clock import local_now
from tests.api.helpers import INTAKE, VERIFY_OK, assert_error, auth, case_detail, complete, counts, create_case


def test_marketing_opens_a_case_and_its_process_starts(client, database):
    headers = auth(client, "marketing")
    response = client.post("/api/v1/cases", json=INTAKE, headers=headers)
    assert response.status_code == 201
    case = response.get_json()
    year = local_now().year
    assert re.fullmatch(rf"FB-{year}-\d{{5}}", case["number"])
    assert case["status"] == "open"
    assert case["customer_name"] == INTAKE["customer_name"]
    assert case["defective_qty"] == 3 and case["ship_date"] == "2024-03-01"
    assert case["data"]["demands"] == ["onsite", "exchange"]
    assert response.headers["Location"].endswith(f"/api/v1/cases/{case['id']}")
    second = create_case(client, headers)
    assert int(second["number"][-5:]) == int(case["number"][-5:]) + 1
    assert counts(database)["cases"] == 2


def test_case_detail_shows_the_first_open_task(client):
    headers = auth(client, "marketing")
    case = create_case(client, headers)
    detail = case_detail(client, headers, case["id"])
    assert detail["number"] == case["number"] and detail["status"] == "open"
    assert detail["stage"] == "核实反馈"
    assert detail["stages"] == ["核实反馈"]
    [task] = detail["open_tasks"]
    assert task["element_id"] == "verify"
    assert task["department"] == "marketing"
    assert task["form_key"] == "verify_fixture"
    assert task["case_id"] == case["id"] and task["case_number"] == case["number"]
    assert task["assignee"] is None and task["status"] == "open"
    assert task["created_at"].endswith("Z")
    assert [h["action"] for h in detail["history"]] == ["process_started"]
    assert detail["history"][0]["actor"] == "营销支持科专员"


def test_admin_may_open_cases_others_may_not(client, database):
    assert client.post("/api/v1/cases", json=INTAKE, headers=auth(client, "admin")).status_code == 201
    for username in ("production", "quality", "auditor"):
        assert_error(client.post("/api/v1/cases", json=INTAKE, headers=auth(client, username)), 403)
    assert counts(database)["cases"] == 1


def test_invalid_intake_answers_422_per_field_and_creates_nothing(client, database):
    headers = auth(client, "marketing", lang="en")
    before = counts(database)
    bad = {**INTAKE, "customer_name": "", "urgency": "whenever", "defective_qty": "three", "customer_email": "x"}
    del bad["description"]
    error = assert_error(client.post("/api/v1/cases", json=bad, headers=headers), 422)
    assert set(error["fields"]) == {"customer_name", "urgency", "defective_qty", "customer_email", "description"}
    assert error["fields"]["description"] == ["This field is required."]
    assert counts(database) == before


def test_wrong_types_and_bad_bodies(client, database):
    headers = auth(client, "marketing")
    before = counts(database)
    error = assert_error(
        client.post("/api/v1/cases", json={**INTAKE, "customer_name": {"a": 1}, "demands": "onsite,x"},
                    headers=headers), 422)
    assert set(error["fields"]) == {"customer_name", "demands"}
    error = assert_error(client.post("/api/v1/cases", json={**INTAKE, "product_model": ["a"]}, headers=headers), 422)
    assert list(error["fields"]) == ["product_model"]
    error = assert_error(client.post("/api/v1/cases", json={**INTAKE, "surprise": 1}, headers=headers), 422)
    assert list(error["fields"]) == ["surprise"]
    assert_error(client.post("/api/v1/cases", json=[INTAKE], headers=headers), 422)
    assert_error(client.post("/api/v1/cases", json="text", headers=headers), 422)
    assert_error(client.post("/api/v1/cases", data=b"{\"customer_name\": ", headers=headers,
                             content_type="application/json"), 400)
    assert_error(client.post("/api/v1/cases", data=b"\xff\xfe", headers=headers, content_type="application/json"), 400)
    assert_error(client.post("/api/v1/cases", data="[" * 100000 + "]" * 100000, headers=headers,
                             content_type="application/json"), 400)
    assert_error(client.post("/api/v1/cases", json={**INTAKE, "customer_name": "a\x00b"}, headers=headers), 400)
    huge = {**INTAKE, "description": "x" * (2 * 1024 * 1024)}
    assert_error(client.post("/api/v1/cases", json=huge, headers=headers), 413)
    assert counts(database) == before


def test_unknown_case_is_404(client):
    headers = auth(client, "marketing")
    for path in ("/api/v1/cases/999", "/api/v1/cases/99999999999999999999", "/api/v1/cases/abc", "/api/v1/cases/0"):
        assert_error(client.get(path, headers=headers), 404)


def test_other_departments_see_a_case_only_once_they_have_a_task(client):
    marketing = auth(client, "marketing")
    case = create_case(client, marketing)
    path = f"/api/v1/cases/{case['id']}"
    for username in ("quality", "manager", "auditor", "admin", "marketing_head"):
        assert client.get(path, headers=auth(client, username)).status_code == 200, username
    production = auth(client, "production")
    assert_error(client.get(path, headers=production), 403)
    [verify] = case_detail(client, marketing, case["id"])["open_tasks"]
    assert complete(client, marketing, verify["id"], VERIFY_OK).status_code == 200
    quality = auth(client, "quality")
    [analysis] = case_detail(client, quality, case["id"])["open_tasks"]
    assert complete(client, quality, analysis["id"], {"responsible_departments": ["production"]}).status_code == 200
    detail = case_detail(client, production, case["id"])
    assert [t["department"] for t in detail["open_tasks"]] == ["production"]
    assert_error(client.get(path, headers=auth(client, "purchasing")), 403)
