"""Issue 13, items 4, 13 and 14 (leftovers): process names, stages and the automatic approval
reason in the reader's language; the case page without duplicate customer details and with a
folded timeline; the designer's form titles and readable diff; where a new case's work waits."""

from __future__ import annotations

import re

from sqlalchemy import select

from app.data.models import ProcessDefinition
from tests.approvals.test_approvals import decide
from tests.conftest import csrf_token
from tests.process_http.payloads import EIGHT_D, analysis, intake, verify_ok
from tests.process_http.test_corrective_actions import D5
from tests.web.helpers import text


def english(flow, username: str):
    client = flow.client(username)
    assert client.post("/language/en", data={"csrf_token": csrf_token(client, "/inbox/")}).status_code == 302
    return client


def test_process_names_and_the_automatic_approval_reason_read_in_english(flow):
    case_id = flow.open_case(**intake())
    flow.verify(case_id, verify_ok())
    flow.complete("quality", "preliminary", analysis(), case_id)
    flow.complete("production", "report", {**EIGHT_D, "d5_corrective": D5}, case_id)
    verify = flow.find("quality", "verify_8d", case_id)["id"]
    assert decide(flow, "quality", verify, "approve", "").status_code == 302  # no reason: "已批准" is written
    chinese = text(flow.client("quality").get(f"/cases/{case_id}"))
    assert "已启动流程“纠正措施跟踪”" in chinese and "已批准" in chinese
    page = text(english(flow, "quality").get(f"/cases/{case_id}"))
    assert "Process “Corrective action tracking” started" in page
    assert "纠正措施跟踪" not in page and "已批准" not in page
    assert "approved — Approved" in page
    # the case list's stage is in English too, naming the department of the tracking task
    listing = text(flow.client("quality").get("/cases/"))
    stage = re.search(r'data-testid="case-stage">([^<]*)<', listing).group(1)
    # (both tasks were created at the same frozen instant: their order is not defined)
    assert set(stage.strip().split(", ")) == {"Summarise the measures", "Carry out the corrective actions"}, stage
    assert not re.search(r"[\u4e00-\u9fff]", stage), stage


def test_a_task_repeated_per_department_names_the_department_in_the_stage(flow):
    case_id = flow.open_case(**intake())
    flow.verify(case_id, verify_ok())
    flow.complete("quality", "preliminary", analysis(responsible_departments=["production", "purchasing"]), case_id)
    listing = text(flow.client("quality").get("/cases/"))
    stage = re.search(r'data-testid="case-stage">([^<]*)<', listing).group(1)
    assert "编写8D报告 · 生产" in stage and "编写8D报告 · 采购" in stage, stage


def test_the_case_page_shows_the_customer_once_and_folds_completed_steps(flow):
    case_id = flow.open_case(**intake(customer_contact="王五 13700001111"))
    flow.verify(case_id, verify_ok())
    page = text(flow.client("quality").get(f"/cases/{case_id}"))
    assert page.count("王五 13700001111") == 1
    intake_card = page.split('data-testid="intake-data"')[1].split("</dl>")[0]
    assert "王五" not in intake_card
    details = re.findall(r'<details class="mt-1 small timeline-details" data-testid="timeline-details">', page)
    assert details and " open" not in page.split('data-testid="timeline-details"')[0][-80:]
    # the diagram opens on the active part (viewer.js reads this), with a way back to the whole
    assert 'data-focus="active"' in page and 'data-testid="diagram-fit"' in page


def test_designer_lists_forms_by_title_and_the_diff_in_words(flow):
    admin = english(flow, "admin")
    page = text(admin.get("/designer/"))
    row = re.search(r'data-testid="form-row" data-key="verify_8d">(.*?)</li>', page, re.S).group(1)
    assert ">Verify the 8D measures</a>" in row and "verify_8d" in row, row
    assert "Customer feedback handling" in page
    with flow.database.session() as s:
        versions = s.scalars(select(ProcessDefinition).where(ProcessDefinition.key == "feedback_case")
                             .order_by(ProcessDefinition.version)).all()
    old, new = versions[0], versions[-1]
    diff = re.sub(r"<script.*?</script>", "", text(admin.get(f"/designer/diff?from={old.id}&to={new.id}")), flags=re.S)
    assert diff.count('data-testid="changed-attributes"') > 0
    for raw in ("bpmn_name", "extensions", "cond_task_specs", "(outputs", "(inputs", "(lane"):
        assert raw not in diff, raw


def test_a_new_case_says_where_its_first_task_waits(flow):
    flow.open_case(**intake())
    marketing = flow.client("marketing")
    inbox = text(marketing.get("/inbox/"))
    assert re.search(r'data-testid="nav-count-inbox">0<', inbox)
    assert re.search(r'data-testid="nav-queue-count"[^>]*>\+1<', inbox)
    hint = re.search(r'data-testid="queue-hint">(.*?)</div>', inbox, re.S).group(1)
    assert "1" in hint and "tab=department" in hint
    assert 'data-testid="queue-hint"' not in text(marketing.get("/inbox/?tab=department"))
