"""Item 10 in a real Chromium: a serial number typed into the case list's search finds its
closed case (no task open any more), and the case page opens from the result."""

from __future__ import annotations

import pytest

from app.data.models import Case
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_complaint_flow import User
from tests.process_http.conftest import flow, prod_app  # noqa: F401 - fixtures: the process driven over HTTP
from tests.process_http.payloads import analysis, intake, verify_ok
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


def test_case_page_folds_completed_steps_and_opens_the_diagram_on_the_active_part(flow, live_server, browser):  # noqa: F811
    case_id = flow.open_case(**intake())
    flow.verify(case_id, verify_ok())
    flow.complete("quality", "preliminary", analysis(), case_id)
    user = User(browser, live_server, "quality")
    page = user.page
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server}/cases/{case_id}")
    page.wait_for_selector("[data-testid=case-diagram][data-ready=true]")
    canvas = page.locator("[data-testid=case-diagram]")
    debug = page.evaluate("[document.getElementById('viewer-config').textContent.slice(-300), "
                          "document.querySelector('[data-testid=case-diagram] svg .viewport').transform.baseVal"
                          ".consolidate().matrix.a]")
    assert canvas.get_attribute("data-focused") == "true", debug
    scale = page.evaluate("document.querySelector('[data-testid=case-diagram] svg .viewport')"
                          ".transform.baseVal.consolidate().matrix.a")
    assert scale >= 0.85, scale  # readable, not the whole diagram squeezed into the card
    # the active task is in view
    box, frame = (page.locator('.djs-element[data-element-id="call_eight_d"]').first.bounding_box(),
                  canvas.bounding_box())
    assert frame["x"] <= box["x"] and box["x"] + box["width"] <= frame["x"] + frame["width"] + 1
    page.click("[data-testid=diagram-fit]")
    assert canvas.get_attribute("data-focused") == "false"
    # completed steps are folded; a click opens one
    details = page.locator("[data-testid=timeline-details]")
    assert details.count() >= 2 and not details.first.locator("[data-testid=timeline-data]").is_visible()
    details.first.locator("summary").click()
    assert details.first.locator("[data-testid=timeline-data]").is_visible()
    height = page.evaluate("document.querySelector('[data-testid=timeline]').offsetHeight")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "case-page-focused.png"), full_page=True)
    assert height < 1500, height
    # the intake card does not repeat the customer's details shown in the essentials
    assert intake()["customer_name"] not in page.inner_text("[data-testid=intake-data]")
