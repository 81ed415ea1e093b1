"""A real Chromium opens the BPMN modeler, renames a task in the side panel, saves (validates)
and deploys: a new version appears in the designer's list."""

from __future__ import annotations

import pytest

from tests.browser.conftest import ARTIFACTS
from tests.conftest import ROOT

pytestmark = pytest.mark.browser

MODELER = ROOT / "app/static/vendor/bpmn-js/bpmn-modeler.production.min.js"


@pytest.fixture
def page(browser, live_server):
    """A page signed in as the demo process designer; page errors fail the test."""
    assert MODELER.exists(), "bpmn-js is not installed: run `make assets`"
    context = browser.new_context(locale="zh-CN", viewport={"width": 1500, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(15000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_server}/auth/login")
    page.fill("#username", "designer")
    page.fill("#password", "demo")
    page.click("form:has(#username) [type=submit]")
    page.wait_for_url(lambda url: "/auth/login" not in url, wait_until="commit")
    page.base = live_server
    yield page
    context.close()
    assert errors == [], errors


def test_open_modeler_rename_task_save_and_deploy(page):
    page.goto(f"{page.base}/designer/")
    row = page.locator('[data-testid=version-row][data-key="feedback_case"][data-version="1"]')
    row.get_by_role("link", name="打开").click()
    page.wait_for_selector("#canvas[data-ready=true]")
    assert page.locator('.djs-element[data-element-id="analysis"]').count() == 1

    # Select the task on the canvas and rename it in the side panel.
    page.locator('.djs-element[data-element-id="analysis"] .djs-hit').first.click()
    panel = page.locator("[data-testid=properties]")
    name = panel.locator("input[name=name]")
    name.fill("初步分析(浏览器)")
    name.press("Tab")
    assert panel.locator("select[name=formKey]").input_value() == "analysis_fixture"
    # forms are listed by their title, the key beside it
    chosen = panel.locator("select[name=formKey] option:checked").inner_text()
    assert chosen.endswith("(analysis_fixture)") and len(chosen) > len("(analysis_fixture)"), chosen
    panel.locator("input[name=nameEn]").fill("Preliminary analysis (browser)")
    panel.locator("input[name=nameEn]").press("Tab")
    xml = page.evaluate("window.designer.xml()")
    assert 'name="初步分析(浏览器)"' in xml
    assert '<spiffworkflow:property name="nameEn" value="Preliminary analysis (browser)" />' in xml

    page.click("[data-testid=save]")
    page.wait_for_selector("#problems .text-success")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "designer-modeler.png"), full_page=True)

    page.click("[data-testid=deploy]")
    page.wait_for_function("() => !document.getElementById('designer-status').classList.contains('alert-info')")
    status = page.locator("[data-testid=designer-status]")
    assert "alert-success" in status.get_attribute("class"), status.inner_text()
    assert "feedback_case v2" in status.inner_text()
    # the heading and the address follow the version now live
    assert page.inner_text("[data-testid=modeler-title]") == "feedback_case v2"
    assert page.url.endswith(f"/designer/definitions/{page.evaluate('window.location.pathname').split('/')[3]}/modeler")

    page.goto(f"{page.base}/designer/")
    new_row = page.locator('[data-testid=version-row][data-key="feedback_case"][data-version="2"]')
    assert new_row.count() == 1
    assert new_row.locator("[data-testid=live]").count() == 1


def test_problems_are_shown_on_the_elements(page):
    page.goto(f"{page.base}/designer/modeler")
    page.wait_for_selector("#canvas[data-ready=true]")
    page.click("[data-testid=save]")  # the starter task has no form yet
    badge = page.locator('[data-problem-for="task_1"]')
    badge.wait_for()
    assert page.locator('.djs-element.dz-problem[data-element-id="task_1"]').count() == 1
    assert "task_1" in page.locator("[data-testid=problems]").inner_text()
    # Choose a form in the side panel; validation then passes.
    page.locator('.djs-element[data-element-id="task_1"] .djs-hit').first.click()
    page.locator("[data-testid=properties] select[name=formKey]").select_option("note")
    page.click("[data-testid=save]")
    page.wait_for_selector("#problems .text-success")
    assert page.locator(".dz-problem").count() == 0
