"""Issue 10.9 through HTTP on the production diagrams and forms: no intake form preselects the
type or the urgency, and Marketing corrects the classification when verifying or answering —
with a reason, recorded on the case and in its timeline — which reroutes the case."""

from __future__ import annotations

import re

from sqlalchemy import select

from app.data.models import AuditEvent, Case, HumanTask, TaskState
from tests.process_http.payloads import analysis, intake, verify_ok
from tests.public.helpers import CUSTOMER_INTAKE, post_feedback
from tests.web.helpers import text


def select_html(page: str, name: str) -> str:
    match = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', page, re.S)
    assert match, name
    return match.group(1)


def test_staff_intake_preselects_neither_type_nor_urgency(flow):
    client = flow.client("marketing")
    page = client.get("/cases/new").get_data(as_text=True)
    for name in ("feedback_type", "urgency"):
        options = select_html(page, name)
        assert options.lstrip().startswith('<option value="">请选择…</option>'), options[:200]
        assert "selected" not in options
    token = re.search(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"', page).group(1)
    blank = {key: value for key, value in intake().items() if key not in ("feedback_type", "urgency", "demands")}
    response = client.post("/cases/new", data={**blank, "csrf_token": token, "feedback_type": "", "urgency": ""})
    assert response.status_code == 422
    errors = dict(re.findall(r'data-field="([^"]+)">([^<]*)<', response.get_data(as_text=True)))
    assert errors == {"feedback_type": "此项为必填项。", "urgency": "此项为必填项。"}
    with flow.database.transaction() as session:
        assert session.scalars(select(Case)).all() == []


def test_public_form_leaves_the_type_to_the_customer(flow):
    client = flow.app.test_client()
    page = client.get("/feedback").get_data(as_text=True)
    assert select_html(page, "feedback_type").lstrip().startswith('<option value="">请选择…</option>')
    response = post_feedback(client, **{**CUSTOMER_INTAKE, "feedback_type": None})
    assert response.status_code == 422
    assert 'data-field="feedback_type"' in response.get_data(as_text=True)
    response = post_feedback(client, feedback_type="complaint")
    assert response.status_code == 303  # a customer's complaint runs the complaint procedure
    with flow.database.transaction() as session:
        case = session.scalars(select(Case)).one()
        task = session.scalars(select(HumanTask).where(HumanTask.case_id == case.id)).one()
        assert (case.feedback_type, case.urgency, task.element_id) == ("complaint", None, "verify")


def test_consultation_reclassified_as_complaint_is_rerouted_and_recorded(flow):
    case_id = flow.open_case_web(**intake(feedback_type="consultation", category="service", urgency="general"))
    assert flow.open_elements(case_id) == [("answer_close", "marketing")]
    task = flow.find("marketing", "answer_close", case_id)
    # a correction without a reason is refused, and nothing moves
    response = flow.web_submit("marketing", task["id"], {"new_feedback_type": "complaint"})
    assert response.status_code == 422
    assert re.findall(r'data-field="([^"]+)"', response.get_data(as_text=True)) == ["reclassify_reason"]
    assert flow.open_elements(case_id) == [("answer_close", "marketing")]

    flow.complete("marketing", "answer_close", {
        "new_feedback_type": "complaint", "new_category": "quality", "new_urgency": "urgent",
        "reclassify_reason": "客户要求换货并索赔,属投诉"}, case_id)
    # rerouted into the complaint procedure, and the case row says so
    assert flow.open_elements(case_id) == [("verify", "marketing")]
    case = flow.case("marketing", case_id)
    assert (case["feedback_type"], case["category"], case["urgency"]) == ("complaint", "quality", "urgent")
    with flow.database.transaction() as session:
        verify = session.scalars(select(HumanTask).where(HumanTask.case_id == case_id,
                                                         HumanTask.state == TaskState.OPEN)).one()
        assert (verify.urgency, verify.category) == ("urgent", "quality")  # what the inboxes filter and show
        event = session.scalars(select(AuditEvent).where(AuditEvent.case_id == case_id,
                                                         AuditEvent.action == "case_reclassified")).one()
        assert event.data_before == {"feedback_type": "consultation", "category": "service", "urgency": "general"}
        assert event.data_after == {"feedback_type": "complaint", "category": "quality", "urgency": "urgent"}
        assert event.actor_label == "营销支持科专员" and event.element == "answer_close"
    page = text(flow.client("quality").get(f"/cases/{case_id}"))
    item = re.search(r'data-action="case_reclassified".*?</li>', page, re.S).group(0)
    assert "分类已更正" in item and "反馈类型: 咨询 → 投诉" in item and "紧急程度: 一般 → 紧急" in item
    assert "客户要求换货并索赔,属投诉" in item

    # the full procedure follows: verification, Technical's review, Quality's analysis
    flow.verify(case_id, verify_ok(), via="api")
    flow.complete("quality", "preliminary", analysis(), case_id, via="api")
    assert flow.open_elements(case_id) == [("report", "production")]
    history = [e["action"] for e in flow.case("quality", case_id)["history"]]
    assert history.count("case_reclassified") == 1


def test_complaint_reclassified_when_verifying_is_answered(flow):
    case_id = flow.open_case(**intake())
    task = flow.find("marketing", "verify", case_id)
    response = flow.api_submit("marketing", task["id"], {"new_feedback_type": "suggestion"})
    assert response.status_code == 422
    assert set(response.get_json()["error"]["fields"]) == {"reclassify_reason"}
    flow.complete("marketing", "verify", {"new_feedback_type": "suggestion", "reclassify_reason": "客户提改进建议"},
                  case_id, via="api")
    assert flow.open_elements(case_id) == [("answer_close", "marketing")]  # no review: never verified as a complaint
    flow.complete("marketing", "answer_close", {"answer": "感谢建议,已转产品部门", "reply_channel": "email"}, case_id,
                  via="api")
    case = flow.case("marketing", case_id)
    assert (case["status"], case["feedback_type"]) == ("closed", "suggestion")
    with flow.database.transaction() as session:
        assert session.scalars(select(HumanTask.state).where(HumanTask.case_id == case_id)).all() == [
            TaskState.COMPLETED, TaskState.COMPLETED]
