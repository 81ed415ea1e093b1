"""Issue 13 in a real Chromium: what a person sees on a reworked task, in the second round of a
decision, in the task's context panel, in the bell, and when a date is impossible or in the future."""

from __future__ import annotations

import re

import pytest

from tests.browser.test_complaint_flow import User
from tests.process_http.conftest import flow, prod_app  # noqa: F401 - fixtures: the process driven over HTTP
from tests.process_http.payloads import EIGHT_D, analysis, intake, verify_ok

pytestmark = pytest.mark.browser


def _rejected_once(flow):  # noqa: F811 - the fixture's name
    case_id = flow.open_case(**intake())
    flow.verify(case_id, verify_ok())
    flow.complete("quality", "preliminary", analysis(), case_id)
    flow.complete("production", "report", EIGHT_D, case_id)
    flow.complete("quality", "verify_8d", {"decision": "reject", "reason": "根本原因未验证"}, case_id)
    return case_id


def _unread(page) -> int:
    badge = page.locator("[data-testid=unread-count]")
    return int(badge.inner_text()) if badge.count() else 0


def test_rework_banner_the_bell_and_the_second_round(flow, live_server, browser):  # noqa: F811
    case_id = _rejected_once(flow)
    production = User(browser, live_server, "production")
    page = production.page
    page.goto(f"{live_server}/inbox/")
    before = _unread(page)
    assert before >= 1
    page.click("[data-testid=notification-bell]")
    item = page.locator("[data-testid=recent-notification][data-unread=true]", has_text="根本原因未验证")
    assert item.count() == 1
    item.click()  # opening the notification reads it and shows the task
    page.wait_for_selector("[data-testid=task-form]")
    banner = page.locator("[data-testid=rework-banner]")
    assert "根本原因未验证" in banner.inner_text() and "质量部专员" in banner.inner_text()
    assert _unread(page) == before - 1
    page.click("[data-testid=notification-bell]")
    if _unread(page):
        page.click("[data-testid=bell-read-all]")
        page.wait_for_load_state()
    assert _unread(page) == 0

    flow.complete("production", "report", {**EIGHT_D, "d4_occurrence_cause": "已验证"}, case_id)
    quality = User(browser, live_server, "quality")
    task = flow.find("quality", "verify_8d", case_id)
    quality.page.goto(f"{live_server}/tasks/{task['id']}")
    form = quality.page.locator("[data-testid=task-form]")
    assert form.locator("input[name=decision]:checked").count() == 0
    assert form.locator("textarea[name=reason]").input_value() == ""
    history = quality.page.locator("[data-testid=earlier-rounds]")
    history.locator("summary").click()
    assert "根本原因未验证" in history.inner_text()
    assert "验证8D措施 · 生产车间" in quality.page.inner_text("[data-testid=task-title]")
    assert "已验证" in quality.page.inner_text("[data-testid=task-context]")  # the report of this round


def test_preliminary_analysis_shows_the_verified_facts(flow, live_server, browser):  # noqa: F811
    case_id = flow.open_case(**intake())
    flow.verify(case_id, verify_ok())
    quality = User(browser, live_server, "quality")
    task = flow.find("quality", "preliminary", case_id)
    quality.page.goto(f"{live_server}/tasks/{task['id']}")
    context = quality.page.inner_text("[data-testid=task-context]")
    for text in ("报警代码E21,已确认", "先补发2台控制板", "客户停线", "SN001"):
        assert text in context, text


def test_an_impossible_date_says_invalid_and_the_future_is_refused(flow, live_server, browser):  # noqa: F811
    case_id = flow.open_case(**intake())
    flow.verify(case_id, verify_ok(onsite_needed=True))
    marketing = User(browser, live_server, "marketing")
    task = flow.find("marketing", "onsite", case_id)
    page = marketing.page
    page.goto(f"{live_server}/tasks/{task['id']}")
    page.fill("#engineer", "赵工")
    page.fill("#findings", "现场确认")
    page.locator("#visit_date").press_sequentially("0231")  # an incomplete date: the picker sends ""
    page.click("[data-testid=submit-task]")
    note = page.locator("[data-date-note]")
    assert "日期无效" in note.inner_text()
    assert "/tasks/" in page.url  # nothing was sent
    page.fill("#visit_date", "2031-01-01")
    page.click("[data-testid=submit-task]")
    page.wait_for_selector("[data-testid=form-invalid]")
    assert "不能晚于现在" in page.content()
    assert re.search(r"赵工", page.locator("#engineer").input_value())
