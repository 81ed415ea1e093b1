"""The dashboard in a real browser: the charts draw from their JSON, and a click on a bar of the
root-cause Pareto opens the list of the cases behind it (data set of tests/web/test_dashboard.py)."""

from __future__ import annotations

import re

import pytest

from tests.web.test_dashboard import world  # noqa: F401 - the fixture with the hand-computed data set

pytestmark = pytest.mark.browser


def test_a_click_on_a_pareto_bar_lists_its_cases(world, live_server, page, artifacts):  # noqa: F811
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(f"{live_server}/auth/login")
    page.fill('input[name="username"]', "manager")
    page.fill('input[name="password"]', "demo")
    page.locator("form").filter(has=page.locator('input[name="password"]')).locator('[type="submit"]').click()
    page.wait_for_url(lambda url: "/auth/login" not in url)

    page.goto(f"{live_server}/dashboard/?period=month&start=2026-03-15")
    chart = page.locator('[data-testid="chart-pareto_causes"][data-first-point]')
    chart.wait_for(state="attached")
    assert page.locator('[data-testid="kpi-index"]').inner_text() == "87.5"
    assert page.locator('[data-testid="kpi-cases"]').inner_text() == "4"
    x, y = (int(v) for v in chart.get_attribute("data-first-point").split(","))
    page.screenshot(path=str(artifacts / "dashboard.png"), full_page=True)
    chart.scroll_into_view_if_needed()
    box = chart.bounding_box()
    # the first bar (生产过程, 2 causes): its top is at the point; click a little inside it
    page.mouse.click(box["x"] + x, box["y"] + y + 6)

    page.wait_for_url(re.compile(r"/dashboard/cases\?.*chart=pareto_causes"))
    assert "key=production" in page.url
    assert page.locator('[data-testid="drill-key"]').inner_text() == "生产过程"
    rows = page.locator('[data-testid="drill-row"]')
    assert sorted(rows.nth(i).get_attribute("data-number") for i in range(rows.count())) == ["C1", "C2"]
    assert not [e for e in errors if "Content Security Policy" in e], errors
