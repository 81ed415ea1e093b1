"""The modeler against diagrams from elsewhere (a real Chromium): a file without diagram layout
is laid out; the process's Executable flag, message names, multi-instance and timer settings are
edited in the panel; lint marks elements while editing (bpmnlint and the app's own rules); Camunda
attributes are converted to the app's properties."""

from __future__ import annotations

import pytest

from tests.browser.test_designer import page  # noqa: F401  (the signed-in designer page)
from tests.conftest import ROOT

pytestmark = pytest.mark.browser

OWN = ROOT / "tests/designer/corpus/own"


def _open_file(page, path):  # noqa: F811
    page.goto(f"{page.base}/designer/modeler")
    page.wait_for_selector("#canvas[data-ready=true]")
    page.evaluate("document.getElementById('canvas').dataset.ready = ''")
    page.set_input_files("[data-action=open-file]", str(path))
    page.wait_for_selector("#canvas[data-ready=true]")


def _select(page, element_id):  # noqa: F811
    """Select an element as a click would (the palette may cover it after fitting the viewport)."""
    page.evaluate("id => { const m = window.designerModeler; "
                  "m.get('selection').select(m.get('elementRegistry').get(id)); }", element_id)


def test_a_file_without_layout_is_laid_out_and_validates(page):  # noqa: F811
    _open_file(page, OWN / "link_events.bpmn")
    for element in ("first", "go_on", "from_a", "second"):
        assert page.locator(f'.djs-element[data-element-id="{element}"]').count() == 1, element
    assert "自动布局" in page.locator("[data-testid=designer-status]").inner_text()
    page.click("[data-testid=save]")
    page.wait_for_selector("#problems .text-success")


def test_executable_checkbox_and_panel_fields(page):  # noqa: F811
    _open_file(page, OWN / "event_gateway_timer.bpmn")
    panel = page.locator("[data-testid=properties]")
    box = panel.locator("input[name=isExecutable]")
    assert box.is_checked()
    box.uncheck()
    assert 'isExecutable="false"' in page.evaluate("window.designer.xml()")
    box.check()
    # The message of a catch event, by name; a new name defines a new message.
    _select(page, "reply")
    message = panel.locator("input[name=message_name]")
    assert message.input_value() == "customer_reply"
    message.fill("reply_received")
    message.press("Tab")
    xml = page.evaluate("window.designer.xml()")
    assert 'name="reply_received"' in xml
    # The timer's type and expression.
    _select(page, "timeout")
    assert panel.locator("select[name=timerType]").input_value() == "timeDuration"
    panel.locator("select[name=timerType]").select_option("timeDate")
    timer = panel.locator("input[name=timer]")
    timer.fill('"2026-03-12T17:30:00+08:00"')
    timer.press("Tab")
    xml = page.evaluate("window.designer.xml()")
    assert "<bpmn:timeDate" in xml and "2026-03-12T17:30:00+08:00" in xml and "<bpmn:timeDuration" not in xml


def test_lint_marks_elements_while_editing(page):  # noqa: F811
    page.goto(f"{page.base}/designer/modeler")
    page.wait_for_selector("#canvas[data-ready=true]")
    # The starter task has no form yet: the app's own rule marks it, in the designer's language.
    overlay = page.locator('.djs-overlays[data-container-id="task_1"] .bjsl-overlay')
    overlay.wait_for()
    issues = page.evaluate("window.designerModeler.get('linting')._issues")
    assert any("formKey" in i["message"] for i in issues.get("task_1", [])), issues
    _select(page, "task_1")
    page.locator("[data-testid=properties] select[name=formKey]").select_option("note")
    page.wait_for_function("() => !(window.designerModeler.get('linting')._issues.task_1 || []).length")


def test_camunda_attributes_are_converted(page):  # noqa: F811
    _open_file(page, OWN / "camunda_user_task.bpmn")
    hints = page.locator("[data-testid=designer-hints]")
    assert "camunda:formKey" in hints.inner_text() and "camunda:candidateGroups" in hints.inner_text()
    page.click("[data-testid=convert-camunda]")
    xml = page.evaluate("window.designer.xml()")
    assert '<spiffworkflow:property name="formKey" value="note" />' in xml
    assert '<spiffworkflow:property name="department" value="quality" />' in xml
    assert '<spiffworkflow:property name="assignee" value="quality_head" />' in xml
    page.click("[data-testid=save]")
    page.wait_for_selector("#problems .text-success")


def test_deploying_over_an_unrelated_process_asks_first(page, tmp_path):  # noqa: F811
    other = tmp_path / "other.bpmn"
    other.write_text((OWN / "link_events.bpmn").read_text("utf-8").replace("own_link_events", "feedback_case"),
                     encoding="utf-8")
    _open_file(page, other)
    asked: list[str] = []

    def answer(dialog):
        asked.append(dialog.message)
        dialog.accept()

    page.once("dialog", answer)
    page.click("[data-testid=deploy]")
    page.wait_for_function("() => document.getElementById('designer-status').classList.contains('alert-success')")
    assert "feedback_case v1" in asked[0]
    assert "feedback_case v2" in page.locator("[data-testid=designer-status]").inner_text()


def test_test_run_from_the_modeler_shows_the_path(page, artifacts):  # noqa: F811
    _open_file(page, OWN / "manual_and_plain_tasks.bpmn")
    page.click("[data-testid=test-run]")
    page.click("[data-testid=test-run-start]")
    status = page.locator("[data-testid=test-run-status]")
    status.wait_for()
    assert status.get_attribute("data-status") == "running"
    assert page.locator('.djs-element.dz-active[data-element-id="inspect"]').count() == 1
    page.click('[data-testid=test-run-complete][data-element-id="inspect"]')
    page.wait_for_selector('[data-testid=test-run-complete][data-element-id="file_it"]')
    assert page.locator('.djs-element.dz-completed[data-element-id="inspect"]').count() == 1
    page.click('[data-testid=test-run-complete][data-element-id="file_it"]')
    page.wait_for_selector('[data-testid=test-run-status][data-status=completed]')
    assert page.locator('.djs-element.dz-completed[data-element-id="file_it"]').count() == 1
    page.screenshot(path=str(artifacts / "designer-test-run.png"), full_page=True)


def test_instance_viewer_lays_out_a_diagram_deployed_without_layout(page, app):  # noqa: F811
    from tests.designer.test_constructs import _deploy, _start

    session = app.extensions["database"].session()
    try:
        _deploy(session, "manual_and_plain_tasks.bpmn")
        instance = _start(session, app.extensions["runtime"], "own_manual_tasks")
    finally:
        session.close()
    page.goto(f"{page.base}/designer/instances/{instance.id}")
    page.wait_for_selector("#canvas[data-ready]")
    assert page.locator("#canvas").get_attribute("data-ready") == "true"
    assert page.locator('.djs-element.dz-active[data-element-id="inspect"]').count() == 1
