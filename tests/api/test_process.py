"""A whole case through the API, with two responsible departments, and its audit trail."""

from __future__ import annotations

import csv
import io
import json

from tests.api.helpers import VERIFY_OK, assert_error, auth, case_detail, complete, create_case, the_task


def _run_to_closure(client):
    marketing, quality = auth(client, "marketing"), auth(client, "quality")
    production, purchasing = auth(client, "production"), auth(client, "purchasing")
    case = create_case(client, marketing)
    cid = case["id"]
    verify = the_task(client, marketing, cid, "verify")
    assert client.post(f"/api/v1/tasks/{verify['id']}/claim", headers=marketing).status_code == 200
    assert complete(client, marketing, verify["id"], VERIFY_OK, submit_token="v1").status_code == 200
    analysis = the_task(client, quality, cid, "analysis")
    response = complete(client, quality, analysis["id"], {"responsible_departments": ["production", "purchasing"]})
    assert response.status_code == 200
    eight_ds = {t["department"]: t for t in case_detail(client, quality, cid)["open_tasks"]}
    assert set(eight_ds) == {"production", "purchasing"}
    assert all(t["element_id"] == "eight_d" and t["due_at"] for t in eight_ds.values())
    # each department sees and completes only its own 8D
    [own] = client.get("/api/v1/tasks?scope=department", headers=production).get_json()["tasks"]
    assert own["id"] == eight_ds["production"]["id"]
    assert_error(complete(client, production, eight_ds["purchasing"]["id"], {"root_cause": "x"}), 403)
    assert complete(client, production, eight_ds["production"]["id"],
                    {"root_cause": "夹具磨损", "cost": "120.50"}).status_code == 200
    assert case_detail(client, marketing, cid)["status"] == "open"
    assert [t["department"] for t in case_detail(client, marketing, cid)["open_tasks"]] == ["purchasing"]
    assert complete(client, purchasing, eight_ds["purchasing"]["id"], {"root_cause": "来料不良"}).status_code == 200
    close = the_task(client, marketing, cid, "close")
    assert close["department"] == "marketing"
    assert complete(client, marketing, close["id"], {"customer_reply": "已更换主轴并改进夹具。"}).status_code == 200
    return case, marketing


def test_full_process_to_closure(client):
    case, marketing = _run_to_closure(client)
    detail = case_detail(client, marketing, case["id"])
    assert detail["status"] == "closed"
    assert detail["closed_at"] and detail["stage"] is None
    assert detail["open_tasks"] == [] and detail["stages"] == []
    completed = [h for h in detail["history"] if h["action"] == "task_completed"]
    assert [h["element"] for h in completed] == ["verify", "analysis", "eight_d", "eight_d", "close"]
    assert client.get("/api/v1/tasks", headers=marketing).get_json()["tasks"] == []


def test_audit_trail_as_json_and_csv(client):
    case, marketing = _run_to_closure(client)
    response = client.get(f"/api/v1/audit?case={case['id']}", headers=auth(client, "auditor"))
    assert response.status_code == 200
    body = response.get_json()
    assert body["case_number"] == case["number"]
    events = body["events"]
    assert [e["action"] for e in events][0] == "process_started"
    eight_d = [e for e in events if e["element"] == "eight_d"]
    assert {e["data_after"]["root_cause"] for e in eight_d} == {"夹具磨损", "来料不良"}
    assert all(e["task_id"] for e in eight_d)
    assert any(e["data_after"].get("cost") == 120.5 for e in eight_d)

    assert body["chain_head"]["seq"] >= events[-1]["seq"] and len(body["chain_head"]["hash"]) == 64

    response = client.get(f"/api/v1/audit?case={case['id']}&format=csv", headers=marketing)
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert case["number"] in response.headers["Content-Disposition"]
    first, _sep, table = response.get_data(as_text=True).lstrip("\ufeff").partition("\r\n")
    assert first.startswith("# audit trail chain head " + response.headers["X-Audit-Chain-Head"])
    rows = list(csv.DictReader(io.StringIO(table)))
    assert {"seq", "at", "actor", "action", "element", "task_id", "message", "data_before", "data_after",
            "changes", "hash"} <= set(rows[0])
    assert len(rows) == len(events) + 1  # and the export of this trail a moment ago, by the auditor
    assert rows[-1]["action"] == "audit_exported" and rows[-1]["actor"] == "审计员"
    assert [r["action"] for r in rows[:-1]] == [e["action"] for e in events]
    close_row = next(r for r in rows if r["element"] == "close")
    assert json.loads(close_row["data_after"]) == {"customer_reply": "已更换主轴并改进夹具。"}
    assert close_row["at"].endswith("Z") and close_row["actor"] == "营销支持科专员"


def test_audit_access_and_parameters(client):
    marketing = auth(client, "marketing")
    case = create_case(client, marketing)
    for username in ("auditor", "admin", "manager", "quality"):
        assert client.get(f"/api/v1/audit?case={case['id']}", headers=auth(client, username)).status_code == 200
    production = auth(client, "production")
    assert_error(client.get(f"/api/v1/audit?case={case['id']}", headers=production), 403)
    assert_error(client.get(f"/api/v1/audit?case={case['id']}&format=csv", headers=production), 403)
    assert_error(client.get("/api/v1/audit?case=424242", headers=marketing), 404)
    for query in ("", "?case=abc", "?case=-1", "?case=99999999999999999999", f"?case={case['id']}&format=xml"):
        assert_error(client.get("/api/v1/audit" + query, headers=marketing), 400)


def test_csv_cells_cannot_become_formulas(client):
    from app.services.audit_trail import EXPORT_FIELDS, write_csv

    event = dict.fromkeys(EXPORT_FIELDS) | {"at": "2024-01-01T00:00:00Z", "actor": "=HYPERLINK(\"x\")",
                                             "action": "a", "message": "+1", "data_after": {"k": "v"}}
    header = {"chain_head": {"seq": 1, "hash": "0" * 64}}
    text = b"".join(write_csv(iter([event]), header, lambda: None)).decode("utf-8").lstrip("\ufeff")
    row = list(csv.DictReader(io.StringIO(text.partition("\r\n")[2])))[0]
    assert row["actor"].startswith("'=") and row["message"] == "'+1"
    assert json.loads(row["data_after"]) == {"k": "v"}
