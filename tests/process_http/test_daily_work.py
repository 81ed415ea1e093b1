"""Daily work on the task pages (issue 13): a rework says who sent it back and why, decisions
start empty every round with the earlier round as history, and titles say whose work it is."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest

from app.clock import clock
from app.data.models import HumanTask, Notification, User
from app.extensions import db
from app.formkit.definition import load_forms, validate_definition
from tests.process_http.payloads import EIGHT_D, analysis, intake, verify_ok


def _reject_once(flow):
    case_id = flow.open_case(**intake())
    flow.verify(case_id, verify_ok())
    flow.complete("quality", "preliminary", analysis(), case_id)
    flow.complete("production", "report", EIGHT_D, case_id)
    flow.complete("quality", "verify_8d", {"decision": "reject", "reason": "根本原因未验证"}, case_id)
    return case_id


def test_rework_says_why_and_who(flow, prod_app):
    case_id = _reject_once(flow)
    second = flow.find("production", "report", case_id)
    page = flow.client("production").get(f"/tasks/{second['id']}").get_data(as_text=True)
    banner = page[page.index('data-testid="rework-banner"'):page.index('data-testid="task-form"')]
    assert "根本原因未验证" in banner and "质量部专员" in banner and "退回整改" in banner
    with prod_app.app_context():
        user = db.session.query(User).filter_by(username="production").one()
        notes = db.session.query(Notification).filter_by(user_id=user.id, kind="rework").all()
        assert [n.params["reason"] for n in notes] == ["根本原因未验证"]
        assert notes[0].params["sent_back_by"] == "质量部专员"
    listing = flow.client("production").get("/notifications/").get_data(as_text=True)
    assert "根本原因未验证" in listing


def test_first_round_has_no_rework_banner(flow):
    case_id = flow.open_case(**intake())
    flow.verify(case_id, verify_ok())
    flow.complete("quality", "preliminary", analysis(), case_id)
    first = flow.find("production", "report", case_id)
    page = flow.client("production").get(f"/tasks/{first['id']}").get_data(as_text=True)
    assert 'data-testid="rework-banner"' not in page and 'data-testid="earlier-rounds"' not in page


def test_second_round_decision_starts_empty_with_history(flow):
    case_id = _reject_once(flow)
    flow.complete("production", "report", {**EIGHT_D, "d4_occurrence_cause": "已验证"}, case_id)
    task = flow.find("quality", "verify_8d", case_id)
    page = flow.client("quality").get(f"/tasks/{task['id']}").get_data(as_text=True)
    form = page[page.index('data-testid="task-form"'):]
    assert not re.search(r'name="decision"[^>]*checked', form)
    assert re.search(r'<textarea[^>]*name="reason"[^>]*>\s*</textarea>', form)
    history = page[page.index('data-testid="earlier-rounds"'):page.index('data-testid="task-form"')]
    assert "根本原因未验证" in history and "退回整改" in history


def test_verification_title_names_the_department(flow):
    case_id = flow.open_case(**intake())
    flow.verify(case_id, verify_ok())
    flow.complete("quality", "preliminary", analysis(), case_id)
    flow.complete("production", "report", EIGHT_D, case_id)
    inbox = flow.client("quality").get("/inbox/?tab=department").get_data(as_text=True)
    assert "验证8D措施 · 生产车间" in inbox


def test_verification_notification_names_the_department(flow, prod_app):
    case_id = flow.open_case(**intake())
    flow.verify(case_id, verify_ok())
    flow.complete("quality", "preliminary", analysis(), case_id)
    flow.complete("production", "report", EIGHT_D, case_id)
    with prod_app.app_context():
        user = db.session.query(User).filter_by(username="quality").one()
        titles = [n.params["title"] for n in db.session.query(Notification).filter_by(user_id=user.id)]
    assert "验证8D措施 · 生产车间" in titles


def _context(page: str) -> str:
    return page[page.index('data-testid="task-context"'):page.index('data-testid="task-form"')]


def test_preliminary_analysis_shows_what_marketing_verified(flow):
    case_id = flow.open_case(**intake())
    flow.verify(case_id, verify_ok())
    task = flow.find("quality", "preliminary", case_id)
    context = _context(flow.client("quality").get(f"/tasks/{task['id']}").get_data(as_text=True))
    for text in ("报警代码E21,已确认", "先补发2台控制板", "控制板", "客户停线", "SN001", "设备运行10分钟后报警停机"):
        assert text in context, text


def test_verification_shows_the_report_it_verifies(flow):
    case_id = flow.open_case(**intake())
    flow.verify(case_id, verify_ok())
    flow.complete("quality", "preliminary", analysis(), case_id)
    flow.complete("production", "report", EIGHT_D, case_id)
    task = flow.find("quality", "verify_8d", case_id)
    context = _context(flow.client("quality").get(f"/tasks/{task['id']}").get_data(as_text=True))
    assert "温度曲线未点检" in context and "增加炉温点检" in context and "生产车间" in context


def test_the_reply_shows_the_summary_and_the_measures(flow):
    case_id = flow.open_case(**intake())
    flow.verify(case_id, verify_ok())
    flow.complete("quality", "preliminary", analysis(), case_id)
    flow.complete("production", "report", EIGHT_D, case_id)
    flow.complete("quality", "verify_8d", {"decision": "accept", "reason": "有效"}, case_id)
    flow.complete("quality", "summary", {"measures_summary": "各部门措施汇总XYZ"}, case_id)
    task = flow.find("marketing", "close_case", case_id)
    context = _context(flow.client("marketing").get(f"/tasks/{task['id']}").get_data(as_text=True))
    assert "各部门措施汇总XYZ" in context and "增加炉温点检" in context and "华东机电有限公司" in context


def test_a_context_naming_an_unknown_form_or_field_is_refused(tmp_path):
    base = {"key": "a", "title": "A", "fields": [{"name": "x", "type": "text", "label": "X"}]}
    assert validate_definition({**base, "context": "b"})
    assert validate_definition({**base, "context": [{"form": "b", "oops": 1}]})
    assert not validate_definition({**base, "context": ["b", {"form": "b", "fields": ["y"]}]})
    assert not validate_definition({**base, "fields": [{**base["fields"][0], "prefill_from": "request_x"}]})
    assert validate_definition({**base, "fields": [{**base["fields"][0], "prefill_from": "Not A Key"}]})
    (tmp_path / "a.json").write_text(json.dumps({**base, "context": [{"form": "b", "fields": ["y"]}]}))
    (tmp_path / "b.json").write_text(json.dumps({**base, "key": "b"}))
    with pytest.raises(ValueError, match="unknown field b.y"):
        load_forms(tmp_path)


def test_opening_a_notification_reads_it_and_shows_its_task(flow, prod_app):
    case_id = _reject_once(flow)
    client = flow.client("production")
    page = client.get("/inbox/").get_data(as_text=True)
    unread = int(re.search(r'data-testid="unread-count">(\d+)<', page).group(1))
    link = re.search(r'href="(/notifications/(\d+)/open)" data-testid="recent-notification" data-unread="true"',
                     page)
    assert link and "根本原因未验证" in page[page.index('data-testid="notification-dropdown"'):]
    response = client.get(link.group(1))
    assert response.status_code == 302 and "/tasks/" in response.headers["Location"]
    page = client.get("/inbox/").get_data(as_text=True)
    after = re.search(r'data-testid="unread-count">(\d+)<', page)
    assert (int(after.group(1)) if after else 0) == unread - 1
    assert flow.client("quality").get(link.group(1)).status_code == 404  # not theirs
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post("/notifications/read-all", data={"csrf_token": token, "next": "/inbox/"}).status_code == 302
    assert 'data-testid="unread-count"' not in client.get("/inbox/").get_data(as_text=True)
    assert case_id


RAW_KEY = re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+\b")


def _visible_text(page: str) -> str:
    """The text a person reads: no scripts, styles, tags or attribute values."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    return re.sub(r"<[^>]+>", " ", page)


def test_the_case_page_shows_no_raw_keys_in_either_language(flow):
    case_id = flow.open_case(**intake())
    flow.verify(case_id, verify_ok())
    flow.complete("quality", "preliminary", analysis(), case_id)
    flow.complete("production", "report", EIGHT_D, case_id)
    task = flow.find("quality", "verify_8d", case_id)
    client = flow.client("quality")
    page = client.get("/approvals/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post(f"/approvals/{task['id']}/decide",
                           data={"csrf_token": token, "decision": "approve", "reason": "措施有效"})
    assert response.status_code in (302, 303)
    for language in ("zh", "en"):
        client.post(f"/language/{language}", data={"csrf_token": token})
        text = _visible_text(client.get(f"/cases/{case_id}").get_data(as_text=True))
        assert RAW_KEY.findall(text) == [], language
        assert ("Event sent" not in text) and ("已发出事件" not in text)
        assert {"zh": "在审批页作出决定", "en": "Decided on the approvals screen"}[language] in text


def test_time_left_in_working_time_at_a_glance(flow):
    case_id = flow.open_case(**intake())
    flow.verify(case_id, verify_ok())
    task = flow.find("quality", "preliminary", case_id)  # due in one working day
    with flow.database.transaction() as session:
        due = session.get(HumanTask, task["id"]).due_at
    client = flow.client("quality")

    def state() -> str:
        page = "".join(client.get(f"/inbox/?tab={tab}").get_data(as_text=True) for tab in ("mine", "department"))
        row = page[page.index(f'data-testid="inbox-row" data-task-id="{task["id"]}"'):]
        return re.search(r'data-testid="time-left" data-state="([a-z-]+)">([^<]+)<', row).groups()

    assert state() == ("on-track", "剩余 1 个工作日")
    clock.set(due - timedelta(hours=1))
    at_risk = state()
    assert at_risk[0] == "at-risk" and "工作小时" in at_risk[1]
    clock.set(due + timedelta(minutes=30))
    assert state()[0] == "overdue"
    page = client.get(f"/tasks/{task['id']}").get_data(as_text=True)
    assert 'data-testid="time-left" data-state="overdue"' in page


def test_the_shipment_starts_with_the_approved_items_and_the_ship_to_address(flow):
    case_id = flow.open_case(**intake())
    flow.verify(case_id, verify_ok(ship_to_address="上海市浦东新区XX路1号 王工 13800000000"))
    flow.complete("quality", "preliminary", analysis(approve_shipment=True), case_id)
    task = flow.find("warehouse", "shipment", case_id)
    page = flow.client("warehouse").get(f"/tasks/{task['id']}").get_data(as_text=True)
    form = page[page.index('data-testid="task-form"'):]
    assert re.search(r'name="items-0-item"[^>]*value="控制板"|value="控制板"[^>]*name="items-0-item"', form)
    assert re.search(r'name="items-0-qty"[^>]*value="2"|value="2"[^>]*name="items-0-qty"', form)
    assert re.search(r'<textarea[^>]*name="ship_to"[^>]*>\s*上海市浦东新区XX路1号', form)


def test_intake_and_submits_offer_the_next_task_and_pages_have_a_favicon(flow):
    client = flow.client("marketing")
    case_id = flow.open_case_web(**intake())
    page = client.get(f"/cases/{case_id}").get_data(as_text=True)
    task = flow.find("marketing", "verify", case_id)
    assert f'href="/tasks/{task["id"]}" class="alert-link" data-testid="next-task">核实反馈信息</a>' in page
    assert 'rel="icon"' in page and client.get("/static/favicon.svg").status_code == 200
    flow.verify(case_id, verify_ok())  # the next step is Quality's: nothing is offered to marketing
    assert 'data-testid="next-task"' not in client.get("/inbox/").get_data(as_text=True)
