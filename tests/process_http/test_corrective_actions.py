"""Tracking the corrective actions of an accepted 8D (bpmn/corrective_action.bpmn) through HTTP:
the department reports them on its task form, Quality verifies on the approval screen, and the
days late reach the weekly assessment of the weeks they begin in."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from app.clock import clock
from app.data.models import InstanceStatus, ProcessInstance
from app.services.weekly import week_charges, week_rows
from tests.conftest import api_token, csrf_token
from tests.process_http.conftest import form_fields, page_tokens
from tests.process_http.payloads import CLOSE_ACCEPTED, EIGHT_D, RETURN_VISIT, analysis, intake, verify_ok
from tests.public.helpers import PNG
from tests.web.helpers import text

SH = timedelta(hours=8)
# due on Wednesday 4 March: the case closes that week too, so both kinds of lateness share a row
D5 = [{"action": "增加炉温点检", "owner": "张三", "due_date": "2026-03-04", "verification": "点检记录"}]


def case_with_accepted_8d(flow) -> tuple[int, int]:
    case_id = flow.open_case(**intake())
    flow.verify(case_id, verify_ok())
    flow.complete("quality", "preliminary", analysis(), case_id)
    flow.complete("production", "report", {**EIGHT_D, "d5_corrective": D5}, case_id)  # web form
    flow.complete("quality", "verify_8d", {"decision": "accept", "reason": "措施有效"}, case_id)
    with flow.database.transaction() as session:
        tracking = session.scalars(select(ProcessInstance).where(
            ProcessInstance.case_id == case_id, ProcessInstance.process_key == "corrective_action")).one()
    return case_id, tracking.id


def move_to(flow, shanghai: datetime, instance_id: int) -> None:
    """Move the clock to a Shanghai wall-clock time (firing the instance's due timers)."""
    flow.advance(shanghai.replace(tzinfo=UTC) - SH - clock.now(), instance_id)


def tracking_tasks(flow, case_id: int) -> list[tuple[str, str]]:
    return [e for e in flow.open_elements(case_id) if e[0] in ("execute", "verify_execution")]


def test_department_reports_quality_verifies_and_the_assessment_counts_it(flow):
    case_id, tracking_id = case_with_accepted_8d(flow)
    assert tracking_tasks(flow, case_id) == [("execute", "production")]
    task = flow.find("production", "execute", case_id)
    assert task["due_at"].startswith((datetime(2026, 3, 4, 17, 30, tzinfo=UTC) - SH).isoformat()[:19])
    # the case page shows the tracking beside the case's own steps
    case_page = flow.client("quality").get(f"/cases/{case_id}").get_data(as_text=True)
    assert "已启动流程“纠正措施跟踪”" in case_page and "落实纠正措施" in case_page
    # the form lists the planned action; only production acts on it
    page = flow.client("production").get(f"/tasks/{task['id']}").get_data(as_text=True)
    assert "增加炉温点检" in page and "2026-03-04" in page
    assert flow.client("purchasing").post(f"/tasks/{task['id']}", data={
        "csrf_token": csrf_token(flow.client("purchasing"), f"/tasks/{task['id']}")}).status_code == 403

    # the deadline passes: the timer flags it, the task stays with production
    assert flow.advance(timedelta(days=2, hours=9), tracking_id)  # Wednesday 18:00
    assert flow.data(tracking_id)["execution_overdue"] is True
    move_to(flow, datetime(2026, 3, 5, 10, 0), tracking_id)  # Thursday 10:00: 1.5 working hours late
    flow.complete("production", "execute", {"actions": [
        {"action": "增加炉温点检", "due_date": "2026-03-04", "executed_on": "2026-03-05", "result": "已点检"},
    ], "execution_notes": "附点检表"}, case_id)
    assert tracking_tasks(flow, case_id) == [("verify_execution", "quality")]

    # Quality decides on the approval screen, with the facts in front of it
    verify = flow.find("quality", "verify_execution", case_id)["id"]
    screen = text(flow.client("quality").get("/approvals/", query_string={"kind": "execution"}))
    assert f'data-task-id="{verify}" data-kind="execution"' in screen
    assert "增加炉温点检" in screen and "2026-03-05" in screen
    assert re.search(r'data-testid="fact-late">1\b', screen)
    response = flow.client("quality").post(f"/approvals/{verify}/decide", data={
        "decision": "approve", "reason": "现场确认", "csrf_token": csrf_token(flow.client("quality"), "/approvals/")})
    assert response.status_code == 302
    assert flow.instance(tracking_id).status == InstanceStatus.COMPLETED
    result = flow.data(tracking_id)["execution_result"]
    assert (result["accepted"], result["late_execution_days"], result["overdue"]) == (True, 1, True)

    # the case closes the same week: one assessment row with both kinds of lateness
    iid = flow.instance_id(case_id)
    flow.complete("quality", "summary", {"measures_summary": "措施已落实"}, case_id)
    flow.complete("marketing", "close_case", CLOSE_ACCEPTED, case_id)
    move_to(flow, datetime(2026, 3, 8, 12, 0), iid)  # Sunday noon: the return visit is due
    flow.complete("marketing", "return_visit", RETURN_VISIT, case_id)
    case = flow.case("quality", case_id)
    assert case["status"] == "closed"
    with flow.database.transaction() as session:
        rows = week_rows(session, date(2026, 3, 2), date(2026, 3, 8))
        [charge] = week_charges(session, date(2026, 3, 2), date(2026, 3, 8))
    assert rows == [{"case_no": case["number"], "department": "production", "late_measure_days": 0,
                     "late_execution_days": 1}]
    assert (charge["charge"], charge["basis"], charge["days"]) == ("execution", "working", ["2026-03-05"])


def test_late_execution_of_an_open_case_is_charged_in_the_weeks_it_happens(flow):
    case_id, tracking_id = case_with_accepted_8d(flow)
    move_to(flow, datetime(2026, 3, 9, 9, 0), tracking_id)  # next Monday 09:00: Thu + Fri + 0.5 h = 3 days
    with flow.database.transaction() as session:  # still open: Thursday's and Friday's days are the first week's
        assert week_rows(session, date(2026, 3, 2), date(2026, 3, 8)) == [
            {"case_no": flow.case("quality", case_id)["number"], "department": "production",
             "late_measure_days": 0, "late_execution_days": 2}]
    # the web form with a photo of the new check sheet as evidence
    task_id = flow.find("production", "execute", case_id)["id"]
    client = flow.client("production")
    fields = form_fields({"actions": [
        {"action": "增加炉温点检", "due_date": "2026-03-04", "executed_on": "2026-03-06", "result": "已点检"},
    ]})
    for name, value in page_tokens(client.get(f"/tasks/{task_id}").get_data(as_text=True)).items():
        fields.add(name, value)
    fields.add("execution_attachments", (io.BytesIO(PNG), "点检表.png"))
    assert client.post(f"/tasks/{task_id}", data=fields, content_type="multipart/form-data").status_code == 302
    screen = text(flow.client("quality").get("/approvals/", query_string={"kind": "execution"}))
    link = re.search(r'<a href="([^"]+)" data-testid="evidence-link">点检表.png<', screen)
    assert link and flow.client("quality").get(link.group(1)).get_data() == PNG
    flow.complete("quality", "verify_execution", {"execution_decision": "accept", "execution_reason": "好"}, case_id)
    number = flow.case("quality", case_id)["number"]
    assert flow.case("quality", case_id)["status"] != "closed"
    with flow.database.transaction() as session:  # reported Monday 09:00: its third day began at 08:30
        assert week_rows(session, date(2026, 3, 2), date(2026, 3, 8)) == [
            {"case_no": number, "department": "production", "late_measure_days": 0, "late_execution_days": 2}]
        assert week_rows(session, date(2026, 3, 9), date(2026, 3, 15)) == [
            {"case_no": number, "department": "production", "late_measure_days": 0, "late_execution_days": 1}]


def test_tracking_cannot_be_started_by_hand(flow):
    client = flow.client("designer")
    headers = api_token(client, "designer")
    response = client.post("/api/v1/process-definitions/corrective_action/start", json={"data": {}},
                           headers=headers)
    assert response.status_code == 403
    assert response.get_json()["error"]["message"] == "此流程由其他流程的消息启动，不能手动启动。"
    with flow.database.transaction() as session:
        assert session.scalar(select(ProcessInstance.id).where(
            ProcessInstance.process_key == "corrective_action")) is None


def test_a_calendar_change_moves_the_execution_deadline_and_its_timer(flow):
    """Issue 10.5 follow-up: the execution task's dueAt and its overdue timer compute the deadline
    from the D5 date with the calendar where they are used, so an admin's calendar entry moves both."""
    case_id, tracking_id = case_with_accepted_8d(flow)
    wednesday_1730 = datetime(2026, 3, 4, 17, 30, tzinfo=UTC) - SH
    thursday_1730 = wednesday_1730 + timedelta(days=1)
    assert flow.find("production", "execute", case_id)["due_at"].startswith(wednesday_1730.isoformat()[:19])
    assert flow.instance(tracking_id).next_due_at == wednesday_1730

    admin = flow.client("admin")
    token = csrf_token(admin, "/admin/calendar/")
    response = admin.post("/admin/calendar/", data={"csrf_token": token, "day": "2026-03-04", "working": "0",
                                                    "note": "临时停工"}, follow_redirects=True)
    assert "已按新的工作日历调整 2 个待处理的截止时间。" in response.get_data(as_text=True)  # the task and its timer
    assert flow.find("production", "execute", case_id)["due_at"].startswith(thursday_1730.isoformat()[:19])
    assert flow.instance(tracking_id).next_due_at == thursday_1730

    move_to(flow, datetime(2026, 3, 4, 18, 0), tracking_id)  # the old deadline passes quietly
    assert flow.data(tracking_id)["execution_overdue"] is False
    move_to(flow, datetime(2026, 3, 5, 17, 31), tracking_id)
    assert flow.data(tracking_id)["execution_overdue"] is True
    move_to(flow, datetime(2026, 3, 6, 9, 0), tracking_id)  # Friday 09:00: half an hour past the new deadline
    flow.complete("production", "execute", {"actions": [
        {"action": "增加炉温点检", "due_date": "2026-03-04", "executed_on": "2026-03-06", "result": "已点检"},
    ]}, case_id)
    report = flow.data(tracking_id)["execution_reports"][0]
    assert report["due_at"] == thursday_1730.isoformat() and report["late_days"] == 1
