"""Only the right person signs (the diagram's ``performer``), in every channel: the task page, the
API, the approvals screen, claim and bulk claim, assignment, delegation and substitutes; and the
heads' breakdown is done by the head and adds up to the department's total."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import select

from app.clock import clock
from app.data.models import HumanTask, User
from app.services import inbox as inbox_service
from app.services.accounts import save_user
from app.services.setup import deploy_folder
from tests.approvals.test_approvals import assessment_at_sign_quality, decide, items, state
from tests.conftest import ROOT
from tests.process_http.conftest import T0, Flow, form_fields, page_tokens
from tests.process_http.payloads import intake
from tests.web.helpers import text

SIGN = {"decision": "approve", "reason": "同意"}
TODAY = date(2026, 3, 2)  # T0 in Shanghai


@pytest.fixture
def flow(app):
    with app.extensions["database"].transaction() as session:
        deploy_folder(session, ROOT / "bpmn", ROOT / "forms")
    clock.set(T0)
    return Flow(app)


def task_of(flow, iid: int, element: str) -> str:
    with flow.database.transaction() as s:
        return s.scalars(select(HumanTask.id).where(HumanTask.instance_id == iid, HumanTask.element_id == element,
                                                    HumanTask.state == "open")).one()


def assignee(flow, task_id: str) -> int | None:
    with flow.database.transaction() as s:
        return s.get(HumanTask, task_id).assignee_id


def user_id(flow, username: str) -> int:
    with flow.database.transaction() as s:
        return s.scalar(select(User.id).where(User.username == username))


def inbox_post(flow, username: str, path: str, **data):
    client = flow.client(username)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/inbox/").get_data(as_text=True)).group(1)
    return client.post(path, data={**data, "csrf_token": csrf}, follow_redirects=False)


def test_quality_staff_cannot_sign_for_the_head_in_any_channel(flow):
    iid = assessment_at_sign_quality(flow)
    sign = task_of(flow, iid, "sign_quality")

    response = flow.api_submit("quality", sign, SIGN)
    assert response.status_code == 403
    assert "head" in response.get_json()["error"]["message"] or "主管" in response.get_json()["error"]["message"]
    assert flow.web_submit("quality", sign, SIGN).status_code == 403  # the task page
    page = text(flow.client("quality").get(f"/tasks/{sign}"))
    assert 'data-testid="read-only-notice"' in page  # shown, but not as a form to submit
    detail = flow.client("quality").get(f"/api/v1/tasks/{sign}", headers=flow.headers("quality")).get_json()
    assert detail["can_act"] is False
    assert decide(flow, "quality", sign, "approve").status_code == 403  # the approvals screen
    assert state(flow, sign) == "open"

    assert flow.client("quality_head").get(f"/api/v1/tasks/{sign}",
                                           headers=flow.headers("quality_head")).get_json()["can_act"] is True
    response = flow.web_submit("quality_head", sign, SIGN)
    assert response.status_code == 302 and state(flow, sign) == "completed"

    gm = task_of(flow, iid, "sign_gm")  # the General Manager: head of General Management
    assert flow.api_submit("quality_head", gm, SIGN).status_code == 403
    assert flow.api_submit("manager", gm, SIGN).status_code == 200
    assert state(flow, gm) == "completed"


def test_claiming_and_assigning_follow_the_performer(flow):
    iid = assessment_at_sign_quality(flow)
    sign = task_of(flow, iid, "sign_quality")
    claim = flow.client("quality").post(f"/api/v1/tasks/{sign}/claim", headers=flow.headers("quality"))
    assert claim.status_code == 403 and assignee(flow, sign) is None
    bulk = inbox_post(flow, "quality", "/inbox/bulk", action="claim", task_id=sign)
    assert bulk.status_code == 302 and assignee(flow, sign) is None
    page = text(flow.client("quality").get("/inbox/?tab=department"))
    assert sign in page and f'action="/inbox/{sign}/claim"' not in page  # listed, but no claim button for staff
    assert f'action="/inbox/{sign}/claim"' in text(flow.client("quality_head").get("/inbox/?tab=department"))

    # the head may not hand the signature to a member of staff, but may take it himself
    refused = inbox_post(flow, "quality_head", f"/inbox/{sign}/assign", assignee_id=str(user_id(flow, "quality")))
    assert refused.status_code == 302 and assignee(flow, sign) is None
    flash = text(flow.client("quality_head").get("/inbox/"))
    assert "may not do this task" in flash or "不能办理此任务" in flash
    assert flow.client("quality_head").post(f"/api/v1/tasks/{sign}/claim",
                                            headers=flow.headers("quality_head")).status_code == 200
    assert assignee(flow, sign) == user_id(flow, "quality_head")


def test_a_delegate_drafts_and_the_head_signs(flow):
    iid = assessment_at_sign_quality(flow)
    sign = task_of(flow, iid, "sign_quality")
    assert flow.client("quality_head").post(f"/api/v1/tasks/{sign}/claim",
                                            headers=flow.headers("quality_head")).status_code == 200
    delegated = inbox_post(flow, "quality_head", f"/inbox/{sign}/delegate", delegate_id=str(user_id(flow, "quality")))
    assert delegated.status_code == 302 and assignee(flow, sign) == user_id(flow, "quality")
    assert flow.api_submit("quality", sign, SIGN).status_code == 403  # a delegate drafts, never signs

    client = flow.client("quality")
    page = client.get(f"/inbox/{sign}/work")
    assert page.status_code == 200
    fields = form_fields({"decision": "approve", "reason": "草拟:同意"})
    for name, value in page_tokens(page.get_data(as_text=True)).items():
        fields.add(name, value)
    assert client.post(f"/inbox/{sign}/work", data=fields).status_code == 302
    assert assignee(flow, sign) == user_id(flow, "quality_head") and state(flow, sign) == "open"

    head = flow.client("quality_head")
    page = head.get(f"/inbox/{sign}/work")
    assert "草拟:同意" in text(page)
    fields = form_fields({"decision": "approve", "reason": "同意"})
    for name, value in page_tokens(page.get_data(as_text=True)).items():
        fields.add(name, value)
    assert head.post(f"/inbox/{sign}/work", data=fields).status_code == 302
    assert state(flow, sign) == "completed"


@pytest.mark.parametrize(("principal", "may_sign"), [("quality_head", True), ("quality", False)])
def test_a_substitute_signs_only_for_the_head(flow, principal, may_sign):
    iid = assessment_at_sign_quality(flow)
    sign = task_of(flow, iid, "sign_quality")
    with flow.database.transaction() as s:
        away = s.scalar(select(User).where(User.username == principal))
        quality = next(m.department_id for m in away.memberships)
        # a substitute comes from the principal's own department (policy.may_name_substitute)
        colleague = save_user(s, "quality_deputy", "质量部代理", password="demo", departments={quality: False})
        inbox_service.name_substitute(s, away, colleague.id, TODAY, TODAY)
    assert (sign in items(flow, "quality_deputy")) is may_sign  # the approvals screen of the substitute
    response = flow.api_submit("quality_deputy", sign, SIGN)
    assert response.status_code == (200 if may_sign else 403)
    assert state(flow, sign) == ("completed" if may_sign else "open")


def assessment_at_breakdown(flow) -> str:
    case_id = flow.open_case(**intake(customer_name="考核客户"))
    number = flow.case("marketing", case_id)["number"]
    iid = flow.start_process("weekly_assessment", {
        "week_start": "2026-02-23", "week_end": "2026-03-01",
        "rows": [{"case_no": number, "department": "production", "late_measure_days": 2, "late_execution_days": 1}]})
    review = flow.find("quality", "review", None)
    flow.complete("quality", "review", {"rows": flow.task_data(review["id"])["rows"]}, via="api")
    flow.complete("warehouse", "logistics", {"logistics_rows": [{"case_no": number, "freight": "50", "loss": "0"}]},
                  via="api")
    return task_of(flow, iid, "breakdown")


def test_the_breakdown_is_done_by_the_head_and_adds_up_to_the_total(flow):
    breakdown = assessment_at_breakdown(flow)
    # 2 days × 10 + 1 day × 20 + the head's 20 % of 50 = 50, plus the responsible person's 80 % = 40
    assert flow.task_data(breakdown)["breakdown_total"] == "90.00"
    rows = [{"operator": "张三", "amount": "60.00"}, {"operator": "李四", "amount": "20.00"}]
    assert flow.api_submit("production", breakdown, {"operators": rows}).status_code == 403  # staff

    page = text(flow.client("production_head").get(f"/tasks/{breakdown}"))
    assert "合计须等于 90.00" in page  # the total to distribute is on the form
    response = flow.web_submit("production_head", breakdown, {"operators": rows})
    assert response.status_code == 422
    assert "合计须等于 90.00(当前为 80.00)" in text(response)
    response = flow.api_submit("production_head", breakdown, {"operators": rows})
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"]["operators"] == ["合计须等于 90.00(当前为 80.00)。"]
    assert state(flow, breakdown) == "open"

    rows[1]["amount"] = "30.00"
    assert flow.web_submit("production_head", breakdown, {"operators": rows}).status_code == 302
    assert state(flow, breakdown) == "completed"
