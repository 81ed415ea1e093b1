"""Item 10 in a real Chromium: a serial number typed into the case list's search finds its
closed case (no task open any more), and the case page opens from the result."""

from __future__ import annotations

import pytest

from app.data.models import Case
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_complaint_flow import User
from tests.web.helpers import create_case, user_client
from tests.web.test_case_search import close_case

pytestmark = pytest.mark.browser


def test_a_serial_number_finds_its_closed_case(app, database, live_server, browser):
    marketing = user_client(app, "marketing")
    case_id, _ = create_case(marketing, serial_numbers="SN-20261130-A7\nSN-20261130-A8",
                             description="设备在雨天运行后报警 E42。")
    create_case(marketing, customer_name="另一家公司", serial_numbers="SN-OTHER-1", product_model="QQ-1")
    close_case(app, database, case_id)
    with database.session() as s:
        number = s.get(Case, case_id).number

    user = User(browser, live_server, "quality")
    page = user.page
    page.goto(f"{live_server}/cases/")
    page.fill("[data-testid=case-search]", "SN-20261130-A8")
    page.click("[data-testid=case-search-submit]")
    page.wait_for_url(lambda url: "q=SN-20261130-A8" in url)
    rows = page.locator("[data-testid=case-row]")
    assert rows.count() == 1 and rows.first.get_attribute("data-case-number") == number
    assert "已结案" in rows.first.inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "case-search-serial.png"), full_page=True)
    rows.first.locator("a").first.click()
    page.wait_for_url(lambda url: url.endswith(f"/cases/{case_id}"))
    assert "SN-20261130-A8" in page.inner_text("body")
    # a phrase of the description finds it too
    page.goto(f"{live_server}/cases/")
    page.fill("[data-testid=case-search]", "雨天运行")
    page.press("[data-testid=case-search]", "Enter")
    page.wait_for_url(lambda url: "q=" in url)
    assert [r.get_attribute("data-case-number") for r in page.locator("[data-testid=case-row]").all()] == [number]
