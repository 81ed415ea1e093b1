"""The complaint procedure (bpmn/feedback_case.bpmn with stock_count and eight_d) driven through
HTTP: every step done by a user of the department the step belongs to, through the web task
form or the API."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.clock import clock
from app.data.models import InstanceStatus, TaskState
from tests.conftest import csrf_token
from tests.process_http.conftest import T0
from tests.process_http.payloads import (
    CLOSE_ACCEPTED,
    EIGHT_D,
    RETURN_VISIT,
    analysis,
    intake,
    verify_ok,
)

SURVEY_WAIT = timedelta(days=3, minutes=1)


def verify_8d(flow, case_id, dept, decision="accept", via="web", **extra):
    """Quality verifies the 8D of ``dept`` (the one verify_8d task open for the case)."""
    task = flow.find("quality", "verify_8d", case_id)
    assert flow.task_data(task["id"])["dept"] == dept
    flow.complete("quality", "verify_8d", {"decision": decision, "reason": extra.pop("reason", "措施有效"), **extra},
                  case_id, via=via)


def close_and_visit(flow, case_id, via="web"):
    flow.complete("quality", "summary", {"measures_summary": "各部门措施见8D"}, case_id, via=via)
    flow.complete("marketing", "close_case", CLOSE_ACCEPTED, case_id, via=via)
    iid = flow.instance_id(case_id)
    assert "return_visit" not in [e for e, _ in flow.open_elements(case_id)]
    assert not flow.advance(timedelta(days=2), iid)  # the survey timer is not due yet
    assert flow.advance(timedelta(days=1, minutes=1), iid)
    flow.complete("marketing", "return_visit", RETURN_VISIT, case_id, via="api" if via == "web" else "web")


def test_complaint_with_two_departments_to_closure(flow):
    case_id = flow.open_case_web(**intake(category="technical"))
    iid = flow.instance_id(case_id)
    assert flow.open_elements(case_id) == [("verify", "marketing")]
    flow.complete("marketing", "verify", verify_ok(onsite_needed=True), case_id)
    # Technical reviews the verified feedback beside the on-site visit and Quality's analysis
    assert flow.open_elements(case_id) == [("onsite", "marketing"), ("technical_review", "technical")]
    flow.complete("marketing", "onsite", {"visit_date": "2026-03-02", "engineer": "赵工",
                                          "findings": "现场确认报警"}, case_id, via="api")
    flow.complete("technical", "technical_review", {
        "review_technical_issue": "yes", "review_analysis": "固件V2.1报警逻辑缺陷",
        "review_customer_reply": "请升级固件"}, case_id)
    flow.complete("quality", "preliminary",
                  analysis(responsible_departments=["production", "purchasing"], approve_shipment=True,
                           request_technical=True), case_id)
    distributed = clock.now()
    assert flow.open_elements(case_id) == [
        ("report", "production"), ("report", "purchasing"), ("shipment", "warehouse"),
        ("technical_reply", "technical"),
    ]
    report = flow.find("production", "report", case_id)
    assert report["due_at"].startswith((distributed + timedelta(hours=48)).isoformat()[:19])
    # each department sees only its own 8D in its department inbox
    assert flow.find("purchasing", "report", case_id)["department"] == "purchasing"

    flow.complete("production", "report", EIGHT_D, case_id)  # web: groups and a multiselect
    verify_8d(flow, case_id, "production")
    flow.complete("purchasing", "report", EIGHT_D, case_id, via="api")
    verify_8d(flow, case_id, "purchasing", via="api")
    flow.complete("technical", "technical_reply", {"technical_analysis": "固件版本过旧",
                                                   "technical_customer_reply": "请升级固件至V2.3"}, case_id)
    flow.complete("warehouse", "shipment", {"items": [{"item": "控制板", "model": "CB-2", "qty": 2}],
                                            "carrier": "顺丰", "tracking_number": "SF123",
                                            "freight_cost": "35.50", "shipped_on": "2026-03-02"}, case_id)
    summary = flow.find("quality", "summary", case_id)
    results = {r["department"]: r for r in flow.task_data(summary["id"])["eight_d_results"]}
    assert set(results) == {"production", "purchasing"}
    assert results["production"]["report"]["d2_problem"]["what"] == "控制板虚焊"

    close_and_visit(flow, case_id)
    assert flow.instance(iid).status == InstanceStatus.COMPLETED
    case = flow.case("marketing", case_id)
    # closed for the customer; the departments still carry out their corrective actions (D5)
    assert case["status"] == "closed"
    assert flow.open_elements(case_id) == [("execute", "production"), ("execute", "purchasing")]
    data = flow.data(iid)
    assert data["responsible_departments"] == ["production", "purchasing"]
    assert data["tracking_number"] == "SF123" and data["freight_cost"] == 35.5
    assert data["temporary_measures"][0]["measure"] == "先补发2台控制板"
    assert data["lateness"] == [
        {"department": "production", "late_measure_days": 0, "rounds": 1, "overdue": False},
        {"department": "purchasing", "late_measure_days": 0, "rounds": 1, "overdue": False},
    ]
    completed_by = {(e["element"], e["actor"]) for e in case["history"] if e["action"] == "task_completed"}
    assert ("report", "生产车间专员") in completed_by and ("report", "采购部专员") in completed_by
    assert ("shipment", "仓储物流科专员") in completed_by


def test_incomplete_information_loop(flow):
    case_id = flow.open_case(**intake())
    iid = flow.instance_id(case_id)
    flow.complete("marketing", "verify", verify_ok(info_complete="no", missing_info="缺序列号"), case_id)
    assert flow.open_elements(case_id) == [("info_request", "marketing")]
    flow.complete("marketing", "info_request", {"question": "请提供序列号", "request_channel": "email"}, case_id,
                  via="api")
    reply = flow.find("marketing", "customer_reply", case_id)
    assert flow.task_data(reply["id"])["info_requests"] == 1
    flow.complete("marketing", "customer_reply", {"reply_text": "SN001, SN002",
                                                  "reply_received_at": "2026-03-02T08:30"}, case_id)
    verify = flow.find("marketing", "verify", case_id)
    seen = flow.task_data(verify["id"])
    assert seen["reply_text"] == "SN001, SN002" and seen["info_requests"] == 1
    flow.complete("marketing", "verify", verify_ok(), case_id, via="api")
    assert flow.open_elements(case_id) == [("preliminary", "quality"), ("technical_review", "technical")]
    assert [t.state for t in flow.history("verify", case_id)] == [TaskState.COMPLETED, TaskState.COMPLETED]
    history = [e["element"] for e in flow.case("quality", case_id)["history"] if e["action"] == "task_completed"]
    assert history == ["verify", "info_request", "customer_reply", "verify"]
    assert flow.data(iid)["info_complete"] == "yes"


STOCK_COUNTS = {
    # outcome: (book, card, physical) entered by finance, quality and warehouse; the customer reported 5
    "quality_problem": (100, 100, 105),
    "customer_info_inaccurate": (100, 100, 100),
    "warehouse_problem": (100, 98, 97),
}


@pytest.mark.parametrize("outcome", sorted(STOCK_COUNTS))
def test_stock_count_outcomes(flow, outcome):
    book, card, physical = STOCK_COUNTS[outcome]
    case_id = flow.open_case(**intake(defective_qty=5))
    iid = flow.instance_id(case_id)
    flow.verify(case_id, verify_ok())
    flow.complete("quality", "preliminary", analysis(needs_stock_count=True), case_id)
    assert flow.open_elements(case_id) == [
        ("count_finance", "finance"), ("count_quality", "quality"), ("count_warehouse", "warehouse"),
    ]
    for username, element, via in (("finance", "count_finance", "web"), ("quality", "count_quality", "api"),
                                   ("warehouse", "count_warehouse", "web")):
        flow.complete(username, element, {"book_qty": book, "card_qty": card, "physical_qty": physical,
                                          "count_note": f"{username}盘点"}, case_id, via=via)
    if outcome == "customer_info_inaccurate":
        assert flow.open_elements(case_id) == [("close_case", "marketing")]
        task = flow.find("marketing", "close_case", case_id)
        expected: list[str] = []
    else:
        dept = "production" if outcome == "quality_problem" else "warehouse"
        assert flow.open_elements(case_id) == [("report", dept)]
        task = flow.find(dept, "report", case_id)
        expected = [dept]
    seen = flow.task_data(task["id"])
    assert seen["stock_count_outcome"] == outcome
    assert seen["stock_count_result"]["physical_qty"] == physical
    assert seen["count_finance"]["note"] == "finance盘点"

    if outcome == "customer_info_inaccurate":
        flow.complete("marketing", "close_case", {**CLOSE_ACCEPTED, "reply_to_customer": "盘点账物相符"}, case_id)
        assert flow.advance(SURVEY_WAIT, iid)
        flow.complete("marketing", "return_visit", RETURN_VISIT, case_id, via="api")
    else:
        flow.complete(dept, "report", EIGHT_D, case_id, via="api")
        verify_8d(flow, case_id, dept)
        close_and_visit(flow, case_id)
    assert flow.case("marketing", case_id)["status"] == "closed"
    final = flow.data(iid)
    assert final["stock_count_outcome"] == outcome
    assert final["responsible_departments"] == expected


def test_8d_rejected_once_then_accepted(flow, prod_app):
    case_id = flow.open_case(**intake())
    flow.verify(case_id, verify_ok())
    flow.complete("quality", "preliminary", analysis(), case_id)
    first = flow.complete("production", "report", EIGHT_D, case_id)
    verify_8d(flow, case_id, "production", decision="reject", reason="根本原因未验证")
    second = flow.find("production", "report", case_id)
    assert second["id"] != first["id"]
    assert flow.task_data(second["id"])["eight_d_verifications"][0]["reason"] == "根本原因未验证"
    clock.advance(timedelta(hours=10))
    flow.complete("production", "report", {**EIGHT_D, "d4_occurrence_cause": "炉温点检缺失(已验证)"}, case_id,
                  via="api")
    verify_8d(flow, case_id, "production", reason="已验证", via="api")
    result = flow.task_data(flow.find("quality", "summary", case_id)["id"])["eight_d_results"][0]
    assert result["rounds"] == 2 and result["accepted"] is True
    assert [v["decision"] for v in result["verifications"]] == ["reject", "accept"]

    # both rounds are in the case history, each by the department that did it
    case = flow.case("quality", case_id)
    done = [(e["element"], e["actor"]) for e in case["history"] if e["action"] == "task_completed"]
    assert done == [("verify", "营销支持科专员"), ("technical_review", "技术部专员"), ("preliminary", "质量部专员"),
                    ("report", "生产车间专员"),
                    ("verify_8d", "质量部专员"), ("report", "生产车间专员"), ("verify_8d", "质量部专员")]
    page = flow.client("quality").get(f"/cases/{case_id}").get_data(as_text=True)
    assert "根本原因未验证" in page and "炉温点检缺失(已验证)" in page
    close_and_visit(flow, case_id)
    assert flow.data(flow.instance_id(case_id))["lateness"][0]["rounds"] == 2


def test_customer_not_accepting_goes_back_to_quality_and_8d(flow):
    case_id = flow.open_case(**intake())
    iid = flow.instance_id(case_id)
    flow.verify(case_id, verify_ok())
    flow.complete("quality", "preliminary", analysis(), case_id)
    flow.complete("production", "report", EIGHT_D, case_id)
    verify_8d(flow, case_id, "production")
    flow.complete("quality", "summary", {"measures_summary": "措施A"}, case_id)
    flow.complete("marketing", "close_case", {**CLOSE_ACCEPTED, "customer_accepted": "no",
                                              "customer_comment": "需要采购部也整改"}, case_id, via="api")
    assert flow.open_elements(case_id) == [("execute", "production"), ("summary", "quality")]
    assert flow.data(iid)["close_rounds"] == 1
    flow.complete("quality", "summary", {"measures_summary": "追加采购部整改", "redo_8d": True,
                                         "redo_departments": ["purchasing"], "redo_reason": "客户要求"}, case_id)
    assert flow.open_elements(case_id) == [("execute", "production"), ("report", "purchasing")]
    flow.complete("purchasing", "report", EIGHT_D, case_id)
    verify_8d(flow, case_id, "purchasing")
    close_and_visit(flow, case_id)
    assert flow.case("marketing", case_id)["status"] == "closed"
    data = flow.data(iid)
    assert data["close_rounds"] == 1 and data["eight_d_rounds"] == 2
    assert data["responsible_departments"] == ["production", "purchasing"]


def test_consultation_takes_the_short_path(flow):
    case_id = flow.open_case(**intake(feedback_type="consultation", category="technical"))
    assert flow.open_elements(case_id) == [("answer_close", "marketing")]
    task = flow.find("marketing", "answer_close", case_id)
    assert task["due_at"].startswith((T0 + timedelta(days=1)).isoformat()[:19])
    flow.complete("marketing", "answer_close", {"answer": "型号XK-200支持220V", "reply_channel": "phone"}, case_id)
    case = flow.case("marketing", case_id)
    assert case["status"] == "closed" and case["open_tasks"] == []
    assert flow.instance(flow.instance_id(case_id)).status == InstanceStatus.COMPLETED
    assert [e["element"] for e in case["history"] if e["action"] == "task_completed"] == ["answer_close"]


def test_wrong_department_gets_403_on_web_and_api(flow):
    case_id = flow.open_case(**intake())
    task = flow.find("marketing", "verify", case_id)
    for username in ("production", "finance"):
        client = flow.client(username)
        assert client.get(f"/tasks/{task['id']}").status_code == 403
        token = csrf_token(client, "/inbox/")  # a valid CSRF token of the user's session: 403, not 400
        post = client.post(f"/tasks/{task['id']}", data={**verify_ok(), "csrf_token": token, "submit_token": "x" * 32})
        assert post.status_code == 403
        assert flow.api_submit(username, task["id"], verify_ok()).status_code == 403
        assert client.get(f"/api/v1/tasks/{task['id']}", headers=flow.headers(username)).status_code == 403
    # quality sees the case, but not Marketing's task
    assert flow.api_submit("quality", task["id"], verify_ok()).status_code == 403
    flow.verify(case_id, verify_ok())
    preliminary = flow.find("quality", "preliminary", case_id)
    assert flow.client("marketing").get(f"/tasks/{preliminary['id']}").status_code == 403
    assert flow.api_submit("marketing", preliminary["id"], analysis()).status_code == 403
    assert flow.open_elements(case_id) == [("preliminary", "quality")]


def test_invalid_submit_returns_field_errors_and_changes_nothing(flow):
    case_id = flow.open_case(**intake())
    iid = flow.instance_id(case_id)
    task = flow.find("marketing", "verify", case_id)
    events = flow.audit_count(iid)
    bad = verify_ok(info_complete=None, temporary_measures=[{"measure": "", "owner": "李四"}])
    response = flow.web_submit("marketing", task["id"], bad)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'data-testid="form-invalid"' in page
    assert 'data-field="info_complete"' in page
    assert 'data-field="temporary_measures-0-measure"' in page
    response = flow.api_submit("marketing", task["id"], {**bad, "request_type": "gift", "defective": 1})
    assert response.status_code == 422
    fields = response.get_json()["error"]["fields"]
    assert {"info_complete", "request_type"} <= set(fields)
    assert any(name.startswith("temporary_measures") for name in fields)
    assert flow.audit_count(iid) == events
    assert flow.open_elements(case_id) == [("verify", "marketing")]
    assert flow.find("marketing", "verify", case_id)["id"] == task["id"]
