"""The API document is generated from the forms that validate, and lists and searches cases."""

from __future__ import annotations

import json

from tests.api.helpers import INTAKE, assert_error, auth, create_case
from tests.conftest import FIXTURES


def _intake_schema(client) -> dict:
    return client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]["CaseIntake"]


def test_the_case_intake_schema_is_the_deployed_form(client):
    schema = _intake_schema(client)
    form = json.loads((FIXTURES / "forms" / "case_intake.json").read_text(encoding="utf-8"))
    specs = {f["name"]: f for f in form["fields"]}
    assert set(schema["required"]) == {n for n, f in specs.items() if f.get("required") and f["type"] != "files"}
    for name, spec in specs.items():
        if spec["type"] in ("select", "radio") and spec.get("choices"):
            values = [c["value"] for c in spec["choices"]]
            assert [v for v in schema["properties"][name]["enum"] if v is not None] == values, name
    assert schema["properties"]["customer_name"]["maxLength"] == specs["customer_name"]["max_length"]
    assert schema["additionalProperties"] is False
    assert "attachments" not in schema["properties"]


def test_what_the_schema_refuses_the_server_refuses(client):
    headers = auth(client, "marketing", "en")
    schema = _intake_schema(client)
    too_long = "x" * (schema["properties"]["customer_name"]["maxLength"] + 1)
    for body in ({**INTAKE, "customer_name": too_long}, {**INTAKE, "urgency": "pigeon"},
                 {k: v for k, v in INTAKE.items() if k != "description"}, {**INTAKE, "surprise": 1},
                 {**INTAKE, "attachments": [{"id": "a" * 64}]}):
        assert_error(client.post("/api/v1/cases", json=body, headers=headers), 422)


def test_cases_are_listed_filtered_searched_and_paged(client):
    marketing = auth(client, "marketing")
    first = create_case(client, marketing, customer_name="甲公司", urgency="urgent")
    second = create_case(client, marketing, customer_name="乙公司", urgency="general")
    listed = client.get("/api/v1/cases", headers=marketing).get_json()
    assert listed["total"] == 2 and [c["id"] for c in listed["cases"]] == [second["id"], first["id"]]
    urgent = client.get("/api/v1/cases?urgency=urgent", headers=marketing).get_json()
    assert [c["id"] for c in urgent["cases"]] == [first["id"]]
    found = client.get("/api/v1/cases", query_string={"q": "乙"}, headers=marketing).get_json()
    assert [c["number"] for c in found["cases"]] == [second["number"]]
    page = client.get("/api/v1/cases?limit=1&offset=1", headers=marketing).get_json()
    assert page["total"] == 2 and [c["id"] for c in page["cases"]] == [first["id"]]
    assert_error(client.get("/api/v1/cases?limit=0", headers=marketing), 400)
    assert_error(client.get("/api/v1/cases"), 401)
    # a department that had no task in these cases sees none of them
    assert client.get("/api/v1/cases", headers=auth(client, "warehouse")).get_json()["total"] == 0


def test_the_real_intake_form_documents_channel_as_required_with_its_choices():
    from app.formkit.schema import json_schema
    from tests.conftest import ROOT

    form = json.loads((ROOT / "forms" / "case_intake.json").read_text(encoding="utf-8"))
    schema = json_schema(form)
    channel = next(f for f in form["fields"] if f["name"] == "channel")
    assert "channel" in schema["required"]
    assert schema["properties"]["channel"]["enum"] == [c["value"] for c in channel["choices"]]
    assert "attachments" not in schema["properties"] and schema["additionalProperties"] is False


def test_an_id_larger_than_the_database_holds_is_not_found(client):
    """PostgreSQL refuses such a number in a query ("integer out of range"): the URL does not
    match, so the answer is the documented 404, on every database."""
    headers = auth(client, "auditor")
    response = client.get("/api/v1/audit/exports/346761973805516", headers=headers)
    assert_error(response, 404)
    assert client.get("/api/v1/audit/exports/2147483647", headers=headers).status_code == 404
