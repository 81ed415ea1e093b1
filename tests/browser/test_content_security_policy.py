"""The app's own pages satisfy their content security policy in a real Chromium: no page (the
sign-in, the public form, the inbox, a case with its diagram, the forms, administration, the
modeler and the form editor) reports a policy violation, and every page sends the headers."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.data.models import Case
from tests.browser.test_login_inbox import _open_case

pytestmark = pytest.mark.browser

WATCH = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__violations.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline') + ' '
                           + e.sourceFile + ':' + e.lineNumber);
});
"""
ANONYMOUS_PAGES = ("/auth/login", "/feedback")
ADMIN_PAGES = (
    "/inbox/", "/inbox/?tab=all", "/inbox/substitutes", "/cases/", "/cases/new", "/cases/{case_id}",
    "/approvals/", "/assessments/", "/notifications/", "/admin/users", "/admin/users/new", "/admin/settings",
    "/admin/calendar/", "/admin/incidents", "/designer/", "/designer/forms/new",
)
#: pages that finish drawing in script: wait for this selector before reading the violations
READY = {"/designer/modeler": "#canvas[data-ready=true]"}


def _visit(page, url: str, problems: list[str], ready: str | None = None) -> None:
    response = page.goto(url)
    assert response is not None and response.status == 200, f"{url}: {response and response.status}"
    headers = response.headers
    for name in ("content-security-policy", "x-frame-options", "x-content-type-options", "referrer-policy"):
        if name not in headers:
            problems.append(f"{url}: no {name}")
    if ready:
        page.wait_for_selector(ready)
    page.wait_for_load_state("networkidle")
    problems.extend(f"{url}: {v}" for v in page.evaluate("window.__violations || []"))


def test_main_pages_raise_no_csp_violations(app, live_server, browser):
    case_number = _open_case(app)
    with app.extensions["database"].transaction() as s:
        case_id = s.scalar(select(Case.id).where(Case.number == case_number))
    context = browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 900})
    context.add_init_script(WATCH)
    page = context.new_page()
    page.set_default_timeout(15_000)
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text) if "Content Security Policy" in m.text else None)
    problems: list[str] = []
    try:
        for path in ANONYMOUS_PAGES:
            _visit(page, live_server + path, problems)
        page.goto(f"{live_server}/auth/login")
        page.fill("#username", "admin")
        page.fill("#password", "demo")
        page.click("form:has(#username) [type=submit]")
        page.wait_for_url(lambda url: "/auth/login" not in url, wait_until="commit")
        for path in (*ADMIN_PAGES, *READY):
            _visit(page, live_server + path.format(case_id=case_id), problems, READY.get(path))
        # The select-all box of the inbox works without its former inline handler.
        page.goto(f"{live_server}/inbox/?tab=all")
        page.locator("input[data-select-all]").check()
        boxes = page.locator("input[name=task_id]")
        assert boxes.count() and all(boxes.nth(i).is_checked() for i in range(boxes.count()))
        problems.extend(page.evaluate("window.__violations"))
    finally:
        context.close()
    assert problems == [] and console == [], problems + console
