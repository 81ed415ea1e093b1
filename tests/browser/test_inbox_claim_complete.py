"""A real Chromium claims a task in the department queue and completes it from the inbox."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.data.models import HumanTask
from app.engine.context import Actor
from app.services.cases import open_case

pytestmark = pytest.mark.browser

def test_claim_and_complete_from_the_inbox(app, live_server, browser):
    database = app.extensions["database"]
    with database.transaction() as session:
        case = open_case(session, app.extensions["runtime"], {
            "customer_name": "浏览器测试客户", "description": "外壳开裂", "feedback_type": "complaint",
            "urgency": "urgent", "product_model": "XJ-9"}, Actor.system("test"))
        number = case.number

    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(15000)
    page.goto(f"{live_server}/auth/login")
    page.fill("#username", "marketing")
    page.fill("#password", "demo")
    page.press("#password", "Enter")
    page.wait_for_url(lambda url: "/auth/login" not in url)

    page.goto(f"{live_server}/inbox/?tab=department")
    row = page.locator(f'[data-testid=inbox-row][data-case-number="{number}"]')
    assert row.count() == 1
    assert "浏览器测试客户" in row.inner_text() and "XJ-9" in row.inner_text()
    row.locator("[data-testid=claim-button]").click()
    page.wait_for_load_state()
    assert "您已认领任务" in page.content()

    page.goto(f"{live_server}/inbox/?tab=mine")
    assert page.locator("[data-testid=nav-count-inbox]").inner_text() == "1"
    row = page.locator(f'[data-testid=inbox-row][data-case-number="{number}"]')
    row.locator("[data-testid=open-task]").click()
    page.wait_for_selector("[data-testid=task-form]")
    page.check("input[name=info_complete][value=yes]")
    page.fill('[name="measures-0-action"]', "先行补货")
    page.click("[data-testid=submit-task]")
    page.wait_for_url(lambda url: "/inbox" in url)
    assert number in page.content()  # the completion message names the case
    assert page.locator(f'[data-testid=inbox-row][data-case-number="{number}"]').count() == 0

    page.goto(f"{live_server}/inbox/?tab=completed")
    assert page.locator(f'[data-testid=inbox-row][data-case-number="{number}"]').count() == 1
    context.close()
    with database.transaction() as session:
        verify = session.scalars(select(HumanTask).where(HumanTask.case_number == number,
                                                         HumanTask.element_id == "verify")).one()
        assert verify.state == "completed"
