"""A real Chromium walks one complaint of the production process from intake to closure
through the UI, each step by a user of the department it belongs to.

The app runs with werkzeug's server in a thread of the test process, so the test moves the
shared application clock past the survey timer and fires the timers itself.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.clock import clock, local_now
from app.data.models import Case, ProcessInstance
from app.services.setup import deploy_folder
from tests.browser.conftest import ARTIFACTS
from tests.conftest import ROOT

pytestmark = pytest.mark.browser

@pytest.fixture
def live_server(app, live_server):
    """The shared live server, with the production diagrams deployed."""
    with app.extensions["database"].transaction() as session:
        deploy_folder(session, ROOT / "bpmn", ROOT / "forms")
    return live_server


class User:
    """One signed-in browser context."""

    def __init__(self, browser, base: str, username: str) -> None:
        self.base = base
        self.username = username
        self.context = browser.new_context(locale="zh-CN")
        self.page = self.context.new_page()
        self.page.set_default_timeout(15000)
        self.page.goto(f"{base}/auth/login")
        self.page.fill("#username", username)
        self.page.fill("#password", "demo")
        self.page.locator("form:has(#password) [type=submit]").click()
        self.page.wait_for_load_state()
        assert "/auth/login" not in self.page.url, self.page.content()[:3000]

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"complaint-{name}.png"), full_page=True)

    def open_task(self, case_number: str, title: str) -> None:
        """From the department inbox, open the case's task with this title."""
        self.page.goto(f"{self.base}/inbox/?tab=department")
        row = self.page.locator(f'[data-testid=inbox-row][data-case-number="{case_number}"]', has_text=title)
        assert row.count() == 1, (self.username, title, self.page.content()[:3000])
        row.locator("[data-testid=open-task]").click()
        self.page.wait_for_selector("[data-testid=task-form]")
        assert title in self.page.inner_text("[data-testid=task-title]")

    def submit(self, name: str) -> None:
        self.shot(name)
        self.page.click("[data-testid=submit-task]")
        self.page.wait_for_url(lambda url: "/inbox" in url)
        assert self.page.locator(".alert-success").count() == 1, self.page.content()[:3000]


def test_complaint_from_intake_to_closure(app, live_server, browser):
    marketing = User(browser, live_server, "marketing")
    page = marketing.page
    page.goto(f"{live_server}/cases/new")
    page.fill("#customer_name", "华东机电有限公司")
    page.fill("#description", "设备运行10分钟后报警停机")
    page.select_option("#channel", "hotline")
    page.select_option("#feedback_type", "complaint")
    page.select_option("#urgency", "important")
    marketing.shot("1-intake")
    page.click("[data-testid=submit-case]")
    page.wait_for_selector("[data-testid=case-heading]")
    number = page.inner_text("[data-testid=case-heading]").strip()
    assert number.startswith("FB-")

    marketing.open_task(number, "核实反馈信息")
    page.check('input[name=info_complete][value=yes]')
    page.fill('[name="temporary_measures-0-measure"]', "先补发控制板")
    marketing.submit("2-verify")

    # Technical reviews the verified feedback beside Quality's analysis
    technical = User(browser, live_server, "technical")
    technical.open_task(number, "技术评审")
    technical.page.check('input[name=review_technical_issue][value=no]')
    technical.submit("2b-technical-review")

    quality = User(browser, live_server, "quality")
    quality.open_task(number, "初步分析")
    quality.page.fill("#analysis", "疑似焊接不良")
    quality.page.check('input[name=responsible_departments][value=production]')
    quality.submit("3-preliminary")

    production = User(browser, live_server, "production")
    production.open_task(number, "编写8D报告")
    form = production.page
    form.fill("#d0_emergency", "隔离库存")
    form.fill('[name="d1_team-0-member"]', "张三")
    form.fill("#d2_what", "控制板虚焊")
    form.fill('[name="d3_containment-0-action"]', "库存全检")
    form.select_option("#d4_root_cause_category", "production")
    form.fill("#d4_occurrence_cause", "炉温未点检")
    form.fill("#d4_escape_cause", "出厂测试未覆盖热态")
    form.fill('[name="d5_corrective-0-action"]', "增加炉温点检")
    due_date = (clock.now() + timedelta(days=7)).date().isoformat()
    form.fill('[name="d5_corrective-0-due_date"]', due_date)
    production.submit("4-8d")

    quality.open_task(number, "验证8D措施")
    quality.page.check('input[name=decision][value=accept]')
    quality.page.fill("#reason", "措施有效")
    quality.submit("5-verify-8d")
    quality.open_task(number, "汇总改善措施")
    quality.page.fill("#measures_summary", "生产车间已增加炉温点检")
    quality.submit("6-summary")

    marketing.open_task(number, "回复客户并确认")
    page.fill("#reply_to_customer", "已增加炉温点检,补发控制板")
    page.select_option("#reply_channel", "email")
    page.check('input[name=customer_accepted][value=yes]')
    marketing.submit("7-close")

    # three days later the survey timer fires and the return visit is due
    database = app.extensions["database"]
    with database.transaction() as session:
        case_id = session.scalar(select(Case.id).where(Case.number == number))
        # the case's own process (the 8D's due date started a corrective-action follow-up beside it)
        instance_id = session.scalar(select(ProcessInstance.id).where(ProcessInstance.case_id == case_id,
                                                                      ProcessInstance.process_key == "feedback_case"))
    clock.advance(timedelta(days=3, minutes=1))
    with database.transaction() as session:
        assert app.extensions["runtime"].fire_timers(session, instance_id)

    marketing.open_task(number, "客户回访")
    page.fill("#visit_on", local_now().date().isoformat())
    page.check('input[name=customer_satisfied][value=yes]')
    marketing.submit("8-return-visit")

    page.goto(f"{live_server}/cases/{case_id}")
    page.wait_for_selector("[data-testid=case-heading]")
    marketing.shot("9-closed")
    assert page.inner_text("[data-testid=case-heading] + [data-testid=status]").strip() == "已结案"
    # closed for the customer; production still carries out its corrective action (D5)
    assert page.locator("[data-testid=open-task]").count() == 1

    production.open_task(number, "落实纠正措施")
    form = production.page
    assert form.input_value('[name="actions-0-action"]') == "增加炉温点检"
    assert form.input_value('[name="actions-0-due_date"]') == due_date
    form.fill('[name="actions-0-executed_on"]', local_now().date().isoformat())
    form.fill('[name="actions-0-result"]', "已每班点检炉温")
    production.submit("10-execute")
    quality.open_task(number, "验证措施执行")
    quality.page.check('input[name=execution_decision][value=accept]')
    quality.page.fill("#execution_reason", "现场确认点检记录")
    quality.submit("11-verify-execution")
    page.goto(f"{live_server}/cases/{case_id}")
    page.wait_for_selector("[data-testid=case-heading]")
    assert page.locator("[data-testid=open-task]").count() == 0
    with database.transaction() as session:
        assert session.get(Case, case_id).status == "closed"
    for user in (marketing, technical, quality, production):
        user.context.close()
