"""Smoke test in a real browser: sign in through the login page and see a case's task in the inbox."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.data.models import User
from app.engine.context import Actor
from app.services.cases import open_case

pytestmark = pytest.mark.browser

# The inbox marks its rows with data-testid="task-row" (or "inbox-row", its current name).
TASK_ROW = '[data-testid="task-row"], [data-testid="inbox-row"]'


def _open_case(app) -> str:
    """A new feedback case through the service layer; its first task goes to marketing's queue."""
    database = app.extensions["database"]
    runtime = app.extensions["runtime"]
    with database.transaction() as session:
        user = session.scalars(select(User).where(User.username == "marketing")).one()
        case = open_case(
            session, runtime,
            {"customer_name": "浏览器测试客户", "description": "外壳开裂", "feedback_type": "complaint",
             "urgency": "urgent", "product_model": "BX-100"},
            Actor(user.id, user.display_name),
        )
        return case.number


def test_login_and_inbox_show_the_new_case_task(app, live_server, page, artifacts):
    case_number = _open_case(app)

    page.goto(f"{live_server}/")
    assert "/auth/login" in page.url, "an anonymous visitor is sent to the login page"
    page.fill('input[name="username"]', "marketing")
    page.fill('input[name="password"]', "demo")
    page.locator("form").filter(has=page.locator('input[name="password"]')).locator('[type="submit"]').click()

    page.wait_for_url(lambda url: "/auth/login" not in url)
    assert re.search(r"/inbox/?(\?.*)?$", page.url), page.url
    current_user = page.locator('[data-testid="current-user"]')
    assert current_user.inner_text().strip() == "营销支持科专员"

    # The verify task is unassigned, so it waits in the department queue.
    page.click('[data-testid="tab-department"]')
    page.wait_for_url(re.compile(r"tab=department"))
    row = page.locator(TASK_ROW).filter(has_text=case_number)
    row.first.wait_for(state="visible")
    assert row.count() == 1
    text = row.first.inner_text()
    assert "浏览器测试客户" in text
    assert "核实反馈" in text  # the task title from the fixture diagram
    page.screenshot(path=str(artifacts / "login_inbox.png"), full_page=True)


def test_wrong_password_stays_on_the_login_page(app, live_server, page):
    page.goto(f"{live_server}/auth/login")
    page.fill('input[name="username"]', "marketing")
    page.fill('input[name="password"]', "wrong")
    page.locator("form").filter(has=page.locator('input[name="password"]')).locator('[type="submit"]').click()
    page.wait_for_load_state()
    assert "/auth/login" in page.url
    assert page.locator('[data-testid="current-user"]').count() == 0
