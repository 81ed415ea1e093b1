"""/approvals on the production diagrams: the items and their facts, approve, reject with a
mandatory reason (back for rework), four-eyes, bulk approve of routine items, and the audit."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.clock import clock
from app.data.models import AuditEvent, Department, HumanTask, Membership, User
from app.services.setup import deploy_folder
from tests.conftest import ROOT
from tests.process_http.conftest import T0, Flow
from tests.process_http.payloads import EIGHT_D, analysis, intake, verify_ok
from tests.web.helpers import text


@pytest.fixture
def flow(app):
    with app.extensions["database"].transaction() as session:
        deploy_folder(session, ROOT / "bpmn", ROOT / "forms")
    clock.set(T0)
    return Flow(app)


ITEM = re.compile(r'data-testid="approval-item" data-task-id="([^"]+)" data-kind="([^"]+)"')


def items(flow, username: str, **params) -> dict[str, str]:
    response = flow.client(username).get("/approvals/", query_string=params)
    assert response.status_code == 200, response.status_code
    return {task_id: kind for task_id, kind in ITEM.findall(response.get_data(as_text=True))}


def token(flow, username: str) -> str:
    page = flow.client(username).get("/approvals/").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def decide(flow, username: str, task_id: str, decision: str, reason: str = ""):
    return flow.client(username).post(f"/approvals/{task_id}/decide", data={
        "decision": decision, "reason": reason, "csrf_token": token(flow, username)})


def decisions(flow, task_id: str) -> list[AuditEvent]:
    with flow.database.transaction() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.task_id == task_id,
                                                       AuditEvent.action == "approval_decision")))


def state(flow, task_id: str) -> str:
    with flow.database.transaction() as s:
        return s.get(HumanTask, task_id).state


def case_at_verify_8d(flow, departments=("production",)) -> int:
    case_id = flow.open_case(**intake())
    flow.verify(case_id, verify_ok())
    flow.complete("quality", "preliminary", analysis(responsible_departments=list(departments)), case_id)
    for dept in departments:
        flow.complete(dept, "report", EIGHT_D, case_id, dept=dept)
    return case_id


def assessment_at_sign_quality(flow, reviewer: str = "quality") -> int:
    case_id = flow.open_case(**intake(customer_name="考核客户"))
    number = flow.case("marketing", case_id)["number"]
    iid = flow.start_process("weekly_assessment", {
        "week_start": "2026-02-23", "week_end": "2026-03-01",
        "rows": [{"case_no": number, "department": "production", "late_measure_days": 2,
                  "late_execution_days": 1}]})
    review = flow.find(reviewer, "review", None)
    rows = flow.task_data(review["id"])["rows"]
    flow.complete(reviewer, "review", {"rows": rows, "review_note": "已核对"}, via="api")
    flow.complete("warehouse", "logistics", {"logistics_rows": [{"case_no": number, "freight": "50", "loss": "0"}]},
                  via="api")
    # 2 days × 10 + 1 day × 20 + the head's 20 % of 50 = 50, plus the responsible person's 80 % = 40
    flow.complete("production_head", "breakdown", {
        "operators": [{"operator": "张三", "case_no": number, "amount": "90.00", "reason": "责任人"}]}, via="api")
    assert [e for e, _d in flow.open_elements(instance_id=iid)] == ["sign_quality"]
    return iid


def test_screen_lists_items_with_their_facts(flow):
    pending = flow.open_case(**intake(customer_name="补货客户"))
    flow.verify(pending, verify_ok())  # asks to replenish 2 × 控制板 CB-2
    preliminary = flow.find("quality", "preliminary", pending)["id"]
    no_request = flow.open_case(**intake(customer_name="无诉求客户"))
    flow.verify(no_request, verify_ok(request_type="none", request_items=[]))
    case_id = case_at_verify_8d(flow)
    verify = flow.find("quality", "verify_8d", case_id)["id"]
    iid = assessment_at_sign_quality(flow)
    with flow.database.transaction() as s:
        sign = s.scalars(select(HumanTask).where(HumanTask.instance_id == iid,
                                                 HumanTask.element_id == "sign_quality")).one().id

    seen = items(flow, "quality_head")
    assert seen[preliminary] == "shipment" and seen[verify] == "eight_d" and seen[sign] == "sign_quality"
    assert flow.find("quality", "preliminary", no_request)["id"] not in seen  # request_type none: no approval
    page = text(flow.client("quality_head").get("/approvals/"))
    assert "补货客户" in page and "控制板 CB-2 × 2" in page  # the request items
    assert "温度曲线未点检" in page and "生产车间" in page  # the 8D's root cause and department
    assert "¥40.00" in page  # penalties: 2 days × 10 + 1 day × 20
    assert "¥50.00" in page  # logistics cost
    assert "生产车间专员" in page  # who submitted the 8D
    assert 'data-testid="open-to-decide"' in page  # the shipment decision needs the full form

    # Quality staff decide 8D verifications but not the head's sign-off; Marketing sees nothing
    staff = items(flow, "quality")
    assert verify in staff and sign not in staff
    assert flow.client("marketing").get("/approvals/").status_code == 403
    assert sign in items(flow, "quality_head", kind="sign_quality") and verify not in items(
        flow, "quality_head", kind="sign_quality")
    nav = text(flow.client("quality_head").get("/inbox/"))
    assert re.search(r'data-testid="nav-count-approvals">3<', nav)


def test_approve_an_8d_verification(flow):
    case_id = case_at_verify_8d(flow)
    verify = flow.find("quality", "verify_8d", case_id)["id"]
    response = decide(flow, "quality", verify, "approve", "措施有效")
    assert response.status_code == 302
    assert state(flow, verify) == "completed"
    # accepted: the case goes on to the summary, the tracking of the D5 actions starts beside it
    assert [e for e, _d in flow.open_elements(case_id)] == ["execute", "summary"]
    [event] = decisions(flow, verify)
    assert event.data_after == {"kind": "eight_d", "decision": "approve", "reason": "措施有效"}
    with flow.database.transaction() as s:
        assert event.actor_id == s.scalar(select(User.id).where(User.username == "quality"))
        completed = s.scalars(select(AuditEvent).where(AuditEvent.task_id == verify,
                                                       AuditEvent.action == "task_completed")).one()
        assert completed.data_after["decision"] == "accept"


def test_reject_needs_a_reason_and_sends_back_for_rework(flow):
    case_id = case_at_verify_8d(flow)
    verify = flow.find("quality", "verify_8d", case_id)["id"]
    before = flow.audit_count(flow.instance_id(case_id))
    response = decide(flow, "quality", verify, "reject", "   ")
    assert response.status_code == 302
    page = text(flow.client("quality").get("/approvals/"))  # the flashed error
    assert "A reason is required to reject or return an item." in page or "驳回或退回时必须填写原因" in page
    assert state(flow, verify) == "open" and decisions(flow, verify) == []
    assert flow.audit_count(flow.instance_id(case_id)) == before  # nothing changed

    assert decide(flow, "quality", verify, "reject", "根本原因分析不充分").status_code == 302
    assert state(flow, verify) == "completed"
    assert flow.open_elements(case_id) == [("report", "production")]  # back with the department
    [event] = decisions(flow, verify)
    assert event.data_after == {"kind": "eight_d", "decision": "reject", "reason": "根本原因分析不充分"}


def _join_quality(flow, username: str) -> None:
    with flow.database.transaction() as s:
        user = s.scalar(select(User).where(User.username == username))
        quality = s.scalar(select(Department).where(Department.code == "quality"))
        s.add(Membership(user_id=user.id, department_id=quality.id, is_head=False))


def test_four_eyes_the_8d_author_cannot_verify_it(flow):
    _join_quality(flow, "production")  # a production engineer who is also in Quality
    case_id = case_at_verify_8d(flow)
    verify = flow.find("quality", "verify_8d", case_id)["id"]
    page = text(flow.client("production").get("/approvals/"))
    assert 'data-testid="blocked"' in page
    response = decide(flow, "production", verify, "approve", "自己批准")
    assert response.status_code == 403
    assert 'data-testid="approval-forbidden"' in text(response)
    assert "四眼" in text(response) or "someone else must decide on it (four-eyes)" in text(response)
    assert state(flow, verify) == "open" and decisions(flow, verify) == []
    # the task page and the API enforce it too
    assert flow.api_submit("production", verify, {"decision": "accept", "reason": "x"}).status_code == 403
    assert state(flow, verify) == "open"
    assert decide(flow, "quality", verify, "approve", "").status_code == 302  # someone else may
    assert state(flow, verify) == "completed"


def test_sign_offs_four_eyes_chain_and_rejection(flow):
    iid = assessment_at_sign_quality(flow, reviewer="quality_head")  # the head reviewed the list himself
    with flow.database.transaction() as s:
        sign = s.scalars(select(HumanTask).where(HumanTask.instance_id == iid,
                                                 HumanTask.element_id == "sign_quality")).one().id
    response = decide(flow, "quality_head", sign, "approve")
    assert response.status_code == 403 and state(flow, sign) == "open"

    iid = assessment_at_sign_quality(flow)  # next week's list, reviewed by Quality staff
    with flow.database.transaction() as s:
        sign = s.scalars(select(HumanTask).where(HumanTask.instance_id == iid,
                                                 HumanTask.element_id == "sign_quality")).one().id
    assert decide(flow, "quality", sign, "approve").status_code == 403  # staff: not the head of Quality
    assert decide(flow, "quality_head", sign, "approve", "同意").status_code == 302
    assert [e for e, _d in flow.open_elements(instance_id=iid)] == ["sign_gm"]
    with flow.database.transaction() as s:
        gm = s.scalars(select(HumanTask).where(HumanTask.instance_id == iid,
                                               HumanTask.element_id == "sign_gm")).one().id
    assert gm in items(flow, "manager") and gm not in items(flow, "quality_head")
    assert "同意" in text(flow.client("manager").get("/approvals/"))  # the head of Quality's sign-off
    assert decide(flow, "manager", gm, "reject", "").status_code == 302 and state(flow, gm) == "open"
    assert decide(flow, "manager", gm, "reject", "物流费用待核实").status_code == 302
    assert [e for e, _d in flow.open_elements(instance_id=iid)] == ["review"]  # back for rework
    [event] = decisions(flow, gm)
    assert event.data_after == {"kind": "sign_gm", "decision": "reject", "reason": "物流费用待核实"}
    assert flow.data(iid)["gm_sign_off"]["decision"] == "reject"


def test_bulk_approve_only_routine_items(flow):
    case_id = case_at_verify_8d(flow, departments=("production", "purchasing"))
    verifies = [t.id for t in flow.open_rows(case_id) if t.element_id == "verify_8d"]
    assert len(verifies) == 2
    iid = assessment_at_sign_quality(flow)
    sign = next(t.id for t in flow.open_rows(instance_id=iid) if t.element_id == "sign_quality")
    client = flow.client("quality_head")
    page = client.get("/approvals/").get_data(as_text=True)
    assert page.count('data-testid="select-item"') == 2  # only the routine 8D verifications
    response = client.post("/approvals/bulk", data={"task_id": [*verifies, sign], "csrf_token": token(
        flow, "quality_head")}, follow_redirects=True)
    results = {task_id: (ok == "true", message) for ok, task_id, message in re.findall(
        r'data-testid="bulk-result" data-ok="(true|false)" data-task-id="([^"]+)">([^<]+)<', text(response))}
    assert set(results) == {*verifies, sign}
    assert all(results[t][0] for t in verifies)
    assert results[sign][0] is False and ("routine" in results[sign][1] or "常规" in results[sign][1])
    assert [state(flow, t) for t in verifies] == ["completed", "completed"] and state(flow, sign) == "open"
    assert all(decisions(flow, t)[0].data_after["decision"] == "approve" for t in verifies)
    assert [e for e, _d in flow.open_elements(case_id)] == ["execute", "execute", "summary"]


def test_approval_items_and_who_decides_come_from_the_diagram(flow, tmp_path):
    """A diagram change makes a task an approval item (no Python table); unknown kinds are refused."""
    from app.engine.errors import DefinitionError
    from app.services.approvals import kind_of

    source = (ROOT / "bpmn" / "weekly_assessment.bpmn").read_text(encoding="utf-8")
    marker = '<spiffworkflow:property name="formKey" value="assessment_logistics" />'
    assert marker in source
    declared = marker + ('<spiffworkflow:property name="approval" value="closure" />'
                         '<spiffworkflow:property name="performer" value="head" />'
                         '<spiffworkflow:property name="submittedBy" value="review" />')
    (tmp_path / "weekly_assessment.bpmn").write_text(source.replace(marker, declared), encoding="utf-8")
    with flow.database.transaction() as s:
        deploy_folder(s, tmp_path, ROOT / "forms")
    case_id = flow.open_case(**intake(customer_name="考核客户"))
    number = flow.case("marketing", case_id)["number"]
    iid = flow.start_process("weekly_assessment", {"week_start": "2026-02-23", "week_end": "2026-03-01",
                                                   "rows": [{"case_no": number, "department": "production",
                                                             "late_measure_days": 1}]})
    flow.complete("quality", "review", {"rows": flow.task_data(flow.find("quality", "review", None)["id"])["rows"]},
                  via="api")
    logistics = next(t for t in flow.open_rows(instance_id=iid) if t.element_id == "logistics")
    with flow.database.transaction() as s:
        row = s.get(HumanTask, logistics.id)
        assert kind_of(s, row).key == "closure" and row.performer == "head"
        assert row.context["submitted_by"] == ["review"]
    assert items(flow, "warehouse_head")[logistics.id] == "closure"  # the head of the task's lane decides
    assert flow.client("warehouse").get("/approvals/").status_code == 200
    assert logistics.id not in items(flow, "warehouse")  # staff: not the performer
    assert flow.api_submit("warehouse", logistics.id, {"logistics_rows": []}).status_code == 403

    (tmp_path / "weekly_assessment.bpmn").write_text(source.replace(
        marker, marker + '<spiffworkflow:property name="approval" value="sign_ceo" />'), encoding="utf-8")
    with flow.database.transaction() as s, pytest.raises(DefinitionError) as refused:
        deploy_folder(s, tmp_path, ROOT / "forms")
    problems = refused.value.problems
    assert {p.element_id for p in problems} == {"logistics"}
    assert any("unknown approval kind 'sign_ceo'" in p.message for p in problems)
    assert any("needs submittedBy" in p.message for p in problems)  # four-eyes must be declared too


def test_the_submitters_read_with_the_task_are_those_the_query_finds(flow):
    """A completion reads who submitted the work with its task (four-eyes without a query of its
    own); for each open decision the same people as the instance's completed tasks give."""
    from app.services import four_eyes
    from app.services import tasks as task_service

    case_id = case_at_verify_8d(flow, departments=("production", "purchasing"))
    iid = assessment_at_sign_quality(flow, reviewer="quality_head")
    with flow.database.session() as s:
        rows = [t for t in s.scalars(select(HumanTask).where(HumanTask.state == "open"))
                if (t.context or {}).get("submitted_by")]
        assert {t.element_id for t in rows} >= {"verify_8d", "sign_quality"}
        assert {t.case_id for t in rows} >= {case_id} and {t.instance_id for t in rows} >= {iid}
        expected = {t.id: four_eyes.submitter_ids(s, t) for t in rows}
        assert all(expected.values())
    for task_id, submitters in expected.items():
        with flow.database.session() as s:
            task = task_service.read_for_completion(s, task_id)
            assert four_eyes.SUBMITTERS_KEY in s.info and task_id in s.info[four_eyes.SUBMITTERS_KEY]
            assert four_eyes.submitter_ids(s, task) == submitters


def test_the_screen_builds_the_facts_from_the_rows_without_loading_workflows(flow):
    """Each item keeps, when it opens, the task data its facts are built from: the facts are
    those its workflow gives, and the screen shows them with every workflow unreadable."""
    from sqlalchemy import update

    from app.data.models import ProcessInstance
    from app.engine.codec import jsonable
    from app.services import approvals, four_eyes
    from app.services.approval_facts import facts_for

    pending = flow.open_case(**intake(customer_name="补货客户"))
    flow.verify(pending, verify_ok())
    case_at_verify_8d(flow, departments=("production", "purchasing"))
    assessment_at_sign_quality(flow)
    runtime = flow.app.extensions["runtime"]
    with flow.database.session() as s:
        rows = list(s.scalars(select(HumanTask).where(HumanTask.state == "open", HumanTask.approval.is_not(None))))
        assert {t.approval for t in rows} >= {"shipment", "eight_d", "sign_quality"}
        requests = approvals._requests_of(s, {t.instance_id for t in rows})
        for row in rows:
            kept = row.context[approvals.FACTS_DATA]
            request = requests.get(row.instance_id) if row.approval == "shipment" else None
            assert jsonable(facts_for(row.approval, kept, request)) == jsonable(
                facts_for(row.approval, runtime.task_data(s, row.id), request)), row.approval
        # who submitted each item's work: one statement for all, the same people one query each finds
        each = {t.id: four_eyes.submitter_ids(s, t) for t in rows}
    with flow.database.session() as s:
        rows = list(s.scalars(select(HumanTask).where(HumanTask.id.in_(list(each)))))
        four_eyes.read_submitters(s, rows)
        assert {t.id: four_eyes.submitter_ids(s, t) for t in rows} == each
    with flow.database.transaction() as s:  # no workflow can be read any more
        s.execute(update(ProcessInstance).values(serializer_version="0.0-unreadable"))
    page = text(flow.client("quality_head").get("/approvals/"))
    assert "控制板 CB-2 × 2" in page and "温度曲线未点检" in page and "¥40.00" in page and "¥50.00" in page

    # the navigation's badge and the screen count what the case asked for as the item kept it; an
    # item opened before items kept their data is counted from the audit trail, alike
    no_request = flow.open_case(**intake(customer_name="无诉求客户"))
    flow.verify(no_request, verify_ok(request_type="none", request_items=[]))

    def badges() -> dict[str, int]:
        with flow.database.session() as s:
            return {name: approvals.count_pending(s, s.scalars(select(User).where(User.username == name)).one())
                    for name in ("quality", "quality_head", "manager")}

    kept, listed = badges(), items(flow, "quality_head")
    # the shipment asked for, the two 8D verifications, the sign-off; not the shipment asking nothing
    assert kept["quality_head"] == 4 == len(listed)
    with flow.database.transaction() as s:
        for row in s.scalars(select(HumanTask).where(HumanTask.approval.is_not(None))):
            row.context = {k: v for k, v in (row.context or {}).items() if k != approvals.FACTS_DATA}
    assert badges() == kept
    assert items(flow, "quality_head") == listed  # the screen lists the same items, by the same rule


def test_each_kind_keeps_every_field_its_facts_read():
    """What an item keeps when it opens (FIELDS) covers every key of the task data its kind's facts
    read: a new fact read from the data but not kept would be missing on the screen."""
    from app.services.approval_facts import FACTS, FIELDS, facts_for
    from app.services.approvals import KINDS

    class Recording(dict):
        def __init__(self) -> None:
            super().__init__()
            self.read: set[str] = set()

        def get(self, key, default=None):
            self.read.add(key)
            return default

        def __getitem__(self, key):
            self.read.add(key)
            raise KeyError(key)

    assert set(FIELDS) == set(FACTS) == set(KINDS)
    for kind in FACTS:
        data = Recording()
        facts_for(kind, data, None)
        assert data.read and data.read <= set(FIELDS[kind]), (kind, data.read - set(FIELDS[kind]))
