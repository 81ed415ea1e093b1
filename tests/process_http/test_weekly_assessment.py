"""The weekly assessment (bpmn/weekly_assessment.bpmn) from start to Finance through HTTP, with
the computed penalties and logistics splits checked against hand-computed values, and the
assessment result pages and Excel export."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from app.clock import clock
from app.data.models import InstanceStatus, User
from app.scheduler.runner import scheduled_start_job
from tests.process_http.payloads import EIGHT_D, analysis, intake, verify_ok

# Hand-computed (procedure §考核: 10 yuan per day late measures, 20 yuan per day late execution;
# logistics C ≤ 100: base C; 101–500: 100 + (C − 100) × 50 %; ≥ 501: 300 + (C − 500) × 40 %;
# head 20 %, responsible person the rest; a case's cost is borne by its departments, on the default
# basis tiers on the whole cost first, then shared equally):
#   case A, production: freight 300 + loss 201 = 501 → base 300 + 1 × 0.4 = 300.40,
#                       head 60.08, person 240.32, no lateness → head total 60.08
#   case B, purchasing: 2 days late measures = 20, 1 day late execution = 20, no cost → head total 40
#                       (first round the list says 1 day late measures = 10 → head total 30)
#   case C, freight 200 shared by production and technical → tiers on 200 = 150 → 75 each,
#           head 15, person 60; technical 3 days late execution = 60 → head total 75; production 15
#   case D, warehouse: nothing → no breakdown task for the warehouse
#   production totals: head 60.08 + 15 = 75.08, person 240.32 + 60 = 300.32, head total 75.08
EXPECTED_ITEMS = {  # (case, dept): (measure, execution, cost, base, head, person, head_total)
    ("A", "production"): ("0.00", "0.00", "501.00", "300.40", "60.08", "240.32", "60.08"),
    ("B", "purchasing"): ("20.00", "20.00", "0.00", "0.00", "0.00", "0.00", "40.00"),
    ("C", "production"): ("0.00", "0.00", "100.00", "75.00", "15.00", "60.00", "15.00"),
    ("C", "technical"): ("0.00", "60.00", "100.00", "75.00", "15.00", "60.00", "75.00"),
    ("D", "warehouse"): ("0.00", "0.00", "0.00", "0.00", "0.00", "0.00", "0.00"),
}
ITEM_KEYS = ("measure_penalty", "execution_penalty", "logistics_cost", "logistics_base", "head_share",
             "responsible_share", "head_total")
EXPECTED_TOTALS = {  # dept: (cases, head_share, responsible_share, head_total)
    "production": (2, "75.08", "300.32", "75.08"),
    "purchasing": (1, "0.00", "0.00", "40.00"),
    "technical": (1, "15.00", "60.00", "75.00"),
    "warehouse": (1, "0.00", "0.00", "0.00"),
}
HEADS = {"production": ("production_head", "web"), "purchasing": ("purchasing_head", "api"),
         "technical": ("technical_head", "web")}
#: what each head breaks down (head total + responsible persons' share), on the default basis
#: (tiers on a case's total cost, then shared): case C's 200 yuan is charged 150 and shared 75 + 75;
#: round 1 lists purchasing's measures 1 day late (10 + 20), the corrected round 2 says 2 days (20 + 20)
BREAKDOWN_TOTALS = ({"production": "375.40", "purchasing": "30.00", "technical": "135.00"},
                    {"production": "375.40", "purchasing": "40.00", "technical": "135.00"})


def row(no, dept, measure=0, execution=0, **extra):
    return {"case_no": no, "department": dept, "late_measure_days": measure, "late_execution_days": execution,
            **extra}


@pytest.fixture
def cases(flow):
    """Four real cases (so every figure can link to its case page): letter → (id, number)."""
    found = {}
    for letter in "ABCD":
        case_id = flow.open_case(**intake(customer_name=f"客户{letter}"))
        found[letter] = (case_id, flow.case("marketing", case_id)["number"])
    return found


def run_assessment(flow, cases) -> int:
    no = {letter: number for letter, (_id, number) in cases.items()}
    rows = [row(no["A"], "production"), row(no["B"], "purchasing", 1, 1), row(no["C"], "production"),
            row(no["C"], "technical", 0, 3), row(no["D"], "warehouse")]
    iid = flow.start_process("weekly_assessment", {"week_start": "2026-02-23", "week_end": "2026-03-01",
                                                   "rows": rows})
    logistics = [{"case_no": no["A"], "freight": "300", "loss": "201"},
                 {"case_no": no["B"], "freight": "0", "loss": "0"},
                 {"case_no": no["C"], "freight": "200", "loss": "0"},
                 {"case_no": no["D"], "freight": "0", "loss": "0"}]

    def review_logistics_breakdowns(reviewed, totals):
        review = flow.find("quality", "review", None)
        prefilled = flow.task_data(review["id"])["logistics_rows"]
        assert sorted(r["case_no"] for r in prefilled) == sorted(no.values())
        flow.complete("quality", "review", {"rows": reviewed, "review_note": "已核对"})  # web: group of rows
        flow.complete("warehouse", "logistics", {"logistics_rows": logistics, "logistics_note": "顺丰账单"},
                      via="api")
        assert flow.open_elements(instance_id=iid) == [
            ("breakdown", "production"), ("breakdown", "purchasing"), ("breakdown", "technical")]
        for dept, (username, via) in HEADS.items():
            flow.complete(username, "breakdown", {
                "operators": [{"operator": f"{dept}操作员", "case_no": no["C"] if dept != "purchasing" else no["B"],
                               "amount": totals[dept], "reason": "责任人"}],
                "breakdown_note": "已落实"}, via=via, dept=dept)

    review_logistics_breakdowns(rows, BREAKDOWN_TOTALS[0])
    first = flow.data(iid)
    purchasing = next(i for i in first["assessment_items"] if i["department"] == "purchasing")
    assert (purchasing["measure_penalty"], purchasing["head_total"]) == ("10.00", "30.00")
    flow.complete("quality_head", "sign_quality", {"decision": "reject", "reason": "B案措施延误应为2天"})
    assert flow.open_elements(instance_id=iid) == [("review", "quality")]

    corrected = [dict(r) for r in rows]
    corrected[1] = {**corrected[1], "late_measure_days": 2, "edit_reason": "按质量部记录更正"}
    review_logistics_breakdowns(corrected, BREAKDOWN_TOTALS[1])
    flow.complete("quality_head", "sign_quality", {"decision": "approve", "reason": "同意"})
    assert flow.open_elements(instance_id=iid) == [("sign_gm", "management")]
    flow.complete("manager", "sign_gm", {"decision": "approve", "reason": "同意执行"}, via="api")
    assert flow.open_elements(instance_id=iid) == [("finance_confirm", "finance")]
    return iid


def test_weekly_assessment_from_start_to_finance(flow, cases):
    iid = run_assessment(flow, cases)
    # Finance downloads the signed assessment before confirming
    export = flow.client("finance").get(f"/assessments/{iid}/export.xlsx")
    assert export.status_code == 200
    flow.complete("finance", "finance_confirm", {"confirmed": True, "applied_period": "2026-03",
                                                 "finance_note": "已计入3月工资"})
    assert flow.instance(iid).status == InstanceStatus.COMPLETED
    data = flow.data(iid)
    assert data["assessment_status"] == "confirmed" and data["assessment_rounds"] == 1
    assert data["rejections"][0]["reason"] == "B案措施延误应为2天" and data["rejections"][0]["by"] == "quality"
    letter = {number: letter for letter, (_id, number) in cases.items()}
    items = {(letter[i["case_no"]], i["department"]): i for i in data["assessment_items"]}
    assert set(items) == set(EXPECTED_ITEMS)
    for key, expected in EXPECTED_ITEMS.items():
        assert tuple(items[key][k] for k in ITEM_KEYS) == expected, key
    for dept, (count, head, person, head_total) in EXPECTED_TOTALS.items():
        total = data["assessment_totals"][dept]
        assert (total["cases"], total["head_share"], total["responsible_share"], total["head_total"]) == (
            count, head, person, head_total), dept
    assert data["assessment_departments"] == ["production", "purchasing", "technical"]
    assert sorted(b["department"] for b in data["breakdowns"]) == ["production", "purchasing", "technical"]
    assert data["quality_sign_off"]["decision"] == "approve" and data["gm_sign_off"]["decision"] == "approve"
    assert data["applied_period"] == "2026-03" and data["confirmed"] is True


def test_assessment_pages_link_every_figure_to_its_case(flow, cases):
    iid = run_assessment(flow, cases)
    flow.complete("finance", "finance_confirm", {"confirmed": True, "applied_period": "2026-03"})
    listing = flow.client("finance").get("/assessments/")
    assert listing.status_code == 200
    assert f'data-instance-id="{iid}"' in listing.get_data(as_text=True)
    assert "2026-02-23" in listing.get_data(as_text=True)

    page = flow.client("quality").get(f"/assessments/{iid}").get_data(as_text=True)
    links = dict(re.findall(r'<a href="/cases/(\d+)" data-testid="case-link">([^<]+)</a>', page))
    assert {int(k): v for k, v in links.items()} == {case_id: number for case_id, number in cases.values()}
    rows = re.findall(r'data-testid="item-row" data-case-no="([^"]+)" data-department="([^"]+)"', page)
    assert len(rows) == len(EXPECTED_ITEMS)
    production = re.search(r'data-testid="total-row" data-department="production">(.*?)</tr>', page, re.S).group(1)
    assert re.search(r'data-testid="total-head-share">75.08<', production)
    assert re.search(r'data-testid="total-responsible-share">300.32<', production)
    assert 'data-testid="total-basis" data-basis="total_cost"' in production
    assert page.count('data-testid="item-basis" data-basis="total_cost"') == len(EXPECTED_ITEMS)
    assert 'data-testid="split-basis" data-basis="total_cost"' in page
    assert "B案措施延误应为2天" in page and 'data-testid="export-link"' in page

    # a department head sees only the rows of the own department, and cannot export
    head = flow.client("technical_head")
    assert f'data-instance-id="{iid}"' in head.get("/assessments/").get_data(as_text=True)
    own = head.get(f"/assessments/{iid}").get_data(as_text=True)
    assert re.findall(r'data-testid="item-row" data-case-no="[^"]+" data-department="([^"]+)"', own) == [
        "technical"]
    assert 'data-testid="export-link"' not in own
    assert head.get(f"/assessments/{iid}/export.xlsx").status_code == 403
    # the head of a department without rows, and staff outside Quality/Finance, see nothing
    assert flow.client("marketing_head").get(f"/assessments/{iid}").status_code == 403
    assert flow.client("production").get("/assessments/").status_code == 403
    assert flow.client("production").get(f"/assessments/{iid}/export.xlsx").status_code == 403
    for username in ("manager", "auditor", "admin", "quality_head"):
        assert flow.client(username).get(f"/assessments/{iid}/export.xlsx").status_code == 200, username
    assert flow.client("finance").get("/assessments/999999").status_code == 404


def test_exported_workbook_holds_the_signed_figures(flow, cases):
    iid = run_assessment(flow, cases)
    flow.complete("finance", "finance_confirm", {"confirmed": True, "applied_period": "2026-03"})
    with flow.database.transaction() as session:  # English headers: independent of the catalogue
        session.scalars(select(User).where(User.username == "finance")).one().locale = "en"
    response = flow.client("finance").get(f"/assessments/{iid}/export.xlsx")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert "assessment-2026-02-23.xlsx" in response.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(response.data))
    assert book.sheetnames == ["Cases", "Departments", "Days late", "Breakdowns", "Sign-offs"]
    cases_sheet, depts, _days, ops, signs = (book[name] for name in book.sheetnames)
    names = {"production": "Production Workshop", "purchasing": "Purchasing", "technical": "Technical",
             "warehouse": "Warehouse & Logistics"}
    assert [c.value for c in cases_sheet[1]][:2] == ["Case", "Department"]
    letter = {number: letter for letter, (_id, number) in cases.items()}
    lines = {}
    for cells in cases_sheet.iter_rows(min_row=2):
        dept = next(code for code, name in names.items() if name == cells[1].value)
        lines[(letter[cells[0].value], dept)] = tuple(f"{Decimal(str(c.value)):.2f}" for c in cells[4:11])
        assert cells[11].value == "Tiers on the case's total cost, then shared"
        case_id = cases[letter[cells[0].value]][0]
        assert cells[0].hyperlink.target.endswith(f"/cases/{case_id}")
    assert lines == EXPECTED_ITEMS
    totals = {r[0]: r for r in depts.iter_rows(min_row=2, values_only=True)}
    assert totals["Production Workshop"][1] == 2
    assert totals["Production Workshop"][5:8] == (75.08, 300.32, 75.08)
    assert totals["Total"][2:8] == (20, 80, 701, 90.08, 360.32, 190.08)  # 501 + 100 + 100
    operators = sorted((r[0], r[1], r[2], r[3]) for r in ops.iter_rows(min_row=2, values_only=True))
    assert operators == [
        ("Production Workshop", "production操作员", cases["C"][1], 375.4),
        ("Purchasing", "purchasing操作员", cases["B"][1], 40.0),
        ("Technical", "technical操作员", cases["C"][1], 135),
    ]
    signed = {r[0]: r for r in signs.iter_rows(values_only=True) if r and r[0]}
    assert signed["Weekly assessment"][1] == "2026-02-23 – 2026-03-01"
    assert signed["Status"][1] == "Confirmed by Finance"
    assert signed["Head of Quality"][1:3] == ("Approved", "同意")
    assert signed["General Manager"][1:3] == ("Approved", "同意执行")
    assert signed["Finance"][1] == "Confirmed" and signed["Applied in period"][1] == "2026-03"
    assert signed["Quality"][1:3] == ("Rejected", "B案措施延误应为2天")


# --------------------------------------------------------------------------- lateness in its week


def shanghai(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC) - timedelta(hours=8)


def scheduled_assessment(flow, at: datetime, instance_id: int) -> int:
    """Move the clock to ``at`` and start the week's assessment as the scheduler does."""
    flow.advance(at - clock.now(), instance_id)
    iid = scheduled_start_job(flow.app, "weekly_assessment")
    assert iid is not None
    return iid


def lateness_rows(flow, iid: int) -> list[tuple[str, str, str]]:
    page = flow.client("quality").get(f"/assessments/{iid}").get_data(as_text=True)
    return re.findall(r'data-testid="lateness-row" data-case-no="([^"]*)" data-department="([^"]+)" '
                      r'data-days="([^"]*)"', page)


def test_a_late_8d_on_an_open_case_is_charged_in_its_week_and_not_again_later(flow):
    case_id = flow.open_case(**intake())
    number = flow.case("marketing", case_id)["number"]
    flow.complete("marketing", "verify", verify_ok(), case_id)
    flow.complete("quality", "preliminary", analysis(), case_id)  # Monday 09:00: the 8D is due Wednesday 09:00
    case_instance = flow.instance_id(case_id)

    # Monday after: the 8D is still open; the 24-hour days begun Wednesday to Sunday are this week's
    first = scheduled_assessment(flow, shanghai(2026, 3, 9, 9, 0), case_instance)
    week1 = [f"2026-03-0{d}" for d in range(4, 9)]
    assert lateness_rows(flow, first) == [(number, "production", ",".join(week1))]
    review = flow.find("quality", "review", None)
    rows = flow.task_data(review["id"])["rows"]
    assert rows == [{"case_no": number, "department": "production", "late_measure_days": 5,
                     "late_execution_days": 0}]
    flow.complete("quality", "review", {"rows": rows})
    flow.complete("warehouse", "logistics", {"logistics_rows": [{"case_no": number, "freight": "0", "loss": "0"}]},
                  via="api")
    page = flow.client("quality").get(f"/assessments/{first}").get_data(as_text=True)
    line = re.search(rf'data-testid="item-row" data-case-no="{number}" data-department="production">(.*?)</tr>',
                     page, re.S).group(1)
    assert f'<a href="/cases/{case_id}" data-testid="case-link">{number}</a>' in line
    assert f'data-charge="measures" data-days="{",".join(week1)}"' in line
    assert "50.00" in line  # 5 days × 10 yuan

    # a week later, still open: seven new days, not the first week's again
    second = scheduled_assessment(flow, shanghai(2026, 3, 16, 9, 0), case_instance)
    assert lateness_rows(flow, second) == [(number, "production", ",".join(f"2026-03-{d:02d}" for d in range(9, 16)))]
    # written on Wednesday 18 March 10:00: three more days, then nothing
    flow.advance(shanghai(2026, 3, 18, 10, 0) - clock.now(), case_instance)
    flow.complete("production", "report", EIGHT_D, case_id)
    third = scheduled_assessment(flow, shanghai(2026, 3, 23, 9, 0), case_instance)
    assert lateness_rows(flow, third) == [(number, "production", "2026-03-16,2026-03-17,2026-03-18")]
    fourth = scheduled_assessment(flow, shanghai(2026, 3, 30, 9, 0), case_instance)
    assert lateness_rows(flow, fourth) == []
    assert lateness_rows(flow, first) == [(number, "production", ",".join(week1))]  # unchanged
    verify = flow.find("quality", "verify_8d", case_id)
    assert flow.task_data(verify["id"])["measure_late_days"] == 5 + 7 + 3  # the 8D's own count agrees


# --------------------------------------------------------------------------- rejections


def test_a_week_rejected_three_times_still_reaches_finance(flow, cases):
    no = {letter: number for letter, (_id, number) in cases.items()}
    rows = [row(no["A"], "production", 1, 0)]
    iid = flow.start_process("weekly_assessment", {"week_start": "2026-02-23", "week_end": "2026-03-01",
                                                   "rows": rows})

    def review():
        flow.complete("quality", "review", {"rows": rows, "review_note": "已核对"})

    def logistics(freight: str):
        flow.complete("warehouse", "logistics", {"logistics_rows": [{"case_no": no["A"], "freight": freight,
                                                                     "loss": "0"}]})

    def breakdown():
        task = flow.find("production_head", "breakdown", None)
        total = flow.task_data(task["id"])["breakdown_total"]  # the department's total this round
        flow.complete("production_head", "breakdown", {
            "operators": [{"operator": "张三", "case_no": no["A"], "amount": total, "reason": "责任人"}]})

    review(); logistics("500"); breakdown()  # noqa: E702 - one round of the week
    # 1. the head of Quality sends it to Logistics on the task form, naming the step
    flow.complete("quality_head", "sign_quality", {"decision": "reject", "reason": "运费应为50元",
                                                   "return_to": "logistics"})
    assert flow.open_elements(instance_id=iid) == [("logistics", "warehouse")]
    task = flow.find("warehouse", "logistics", None)
    assert "运费应为50元" in flow.client("warehouse").get(f"/tasks/{task['id']}").get_data(as_text=True)
    logistics("50"); breakdown()  # noqa: E702
    # 2. the General Manager sends the breakdown back (API)
    flow.complete("quality_head", "sign_quality", {"decision": "approve", "reason": "同意"})
    flow.complete("manager", "sign_gm", {"decision": "reject", "reason": "请写明责任人工号",
                                         "return_to": "breakdown"}, via="api")
    assert flow.open_elements(instance_id=iid) == [("breakdown", "production")]
    breakdown()
    # 3. the head of Quality rejects on the approval screen: back to Quality's review of the list
    sign = flow.find("quality_head", "sign_quality", None)["id"]
    screen = "/approvals/"
    token = re.search(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"',
                      flow.client("quality_head").get(screen).get_data(as_text=True)).group(1)
    response = flow.client("quality_head").post(f"/approvals/{sign}/decide", data={
        "decision": "reject", "reason": "天数需复核", "csrf_token": token})
    assert response.status_code == 302
    assert flow.open_elements(instance_id=iid) == [("review", "quality")]
    review(); logistics("50"); breakdown()  # noqa: E702
    flow.complete("quality_head", "sign_quality", {"decision": "approve", "reason": "同意"})
    flow.complete("manager", "sign_gm", {"decision": "approve", "reason": "同意执行"})
    assert flow.open_elements(instance_id=iid) == [("finance_confirm", "finance")]
    flow.complete("finance", "finance_confirm", {"confirmed": True, "applied_period": "2026-03"})
    assert flow.instance(iid).status == InstanceStatus.COMPLETED
    data = flow.data(iid)
    assert data["assessment_status"] == "confirmed" and data["assessment_rounds"] == 3
    assert [(r["by"], r["return_to"]) for r in data["rejections"]] == [
        ("quality", "logistics"), ("management", "breakdown"), ("quality", "review")]
    [item] = data["assessment_items"]
    assert (item["logistics_cost"], item["head_share"], item["head_total"]) == ("50.00", "10.00", "20.00")
    page = flow.client("finance").get(f"/assessments/{iid}").get_data(as_text=True)
    assert re.findall(r'data-testid="rejection" data-return-to="([^"]+)"', page) == ["logistics", "breakdown", "review"]


# --------------------------------------------------------------------------- the logistics split basis


def shared_case_figures(flow, cases, basis: str | None) -> list[tuple[str, str, str]]:
    """A 1,000-yuan case shared by production and purchasing, assessed on ``basis``: (dept, base, head)."""
    no = cases["A"][1]
    data = {"week_start": "2026-02-23", "week_end": "2026-03-01",
            "rows": [row(no, "production"), row(no, "purchasing")]}
    if basis:
        data["logistics_basis"] = basis
    iid = flow.start_process("weekly_assessment", data)
    flow.complete("quality", "review", {"rows": data["rows"]})
    flow.complete("warehouse", "logistics", {"logistics_rows": [{"case_no": no, "freight": "600", "loss": "400"}]})
    page = flow.client("quality").get(f"/assessments/{iid}").get_data(as_text=True)
    assert page.count(f'data-testid="item-basis" data-basis="{basis or "total_cost"}"') == 2
    found = []
    for dept in ("production", "purchasing"):
        item = next(i for i in flow.data(iid)["assessment_items"] if i["department"] == dept)
        found.append((dept, item["logistics_base"], item["head_share"]))
    for line in re.findall(r'data-testid="item-row".*?</tr>', page, re.S):
        assert 'data-testid="shared-cost"' in line and "1000.00" in line
    return found


def test_a_shared_case_on_both_bases(flow, cases):
    # tiers on the whole 1,000 (→ 500), halved: the default
    assert shared_case_figures(flow, cases, None) == [("production", "250.00", "50.00"),
                                                      ("purchasing", "250.00", "50.00")]
    # halved first (500 each → 300 each): 600 in all
    assert shared_case_figures(flow, cases, "per_share") == [("production", "300.00", "60.00"),
                                                             ("purchasing", "300.00", "60.00")]


def test_admin_chooses_the_basis_of_the_next_assessments(flow):
    admin = flow.client("admin")
    page = admin.get("/admin/settings").get_data(as_text=True)
    assert re.search(r'<input checked[^>]*value="total_cost"', page)
    token = re.search(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"', page).group(1)
    assert admin.post("/admin/settings", data={"logistics_basis": "per_month", "csrf_token": token}).status_code == 422
    response = admin.post("/admin/settings", data={"logistics_basis": "per_share", "csrf_token": token})
    assert response.status_code == 302
    page = admin.get("/admin/settings").get_data(as_text=True)
    assert re.search(r'<input checked[^>]*value="per_share"', page) and 'data-testid="setting-changed"' in page
    assert flow.client("quality_head").get("/admin/settings").status_code == 403
    iid = scheduled_start_job(flow.app, "weekly_assessment")
    data = flow.data(iid)
    assert (data["week_start"], data["logistics_basis"]) == ("2026-02-23", "per_share")
    page = flow.client("quality").get(f"/assessments/{iid}").get_data(as_text=True)
    assert 'data-testid="split-basis" data-basis="per_share"' in page
    assert 'data-testid="no-lateness"' in page


def test_the_list_reads_each_assessments_row_not_its_workflow(flow, cases):
    """Every save keeps the assessment's list row (week, status, computed, departments) as its data
    says; the list shows them with every workflow unreadable; ``flask migrate`` writes the rows of
    assessments that have none, and the list reads such an assessment from its workflow meanwhile."""
    from sqlalchemy import delete, update

    from app.data.models import AssessmentWeek, ProcessInstance
    from app.services import assessment_weeks

    iid = run_assessment(flow, cases)
    runtime = flow.app.extensions["runtime"]

    def rows() -> dict[int, tuple]:
        with flow.database.session() as s:
            return {r.instance_id: (str(r.week_start), str(r.week_end), r.status, r.computed, r.departments)
                    for r in s.scalars(select(AssessmentWeek))}

    data = flow.data(iid)
    expected = ("2026-02-23", "2026-03-01", data.get("assessment_status"), True,
                ["production", "purchasing", "technical", "warehouse"])
    assert rows() == {iid: expected}
    flow.complete("finance", "finance_confirm", {"confirmed": True, "applied_period": "2026-03"})
    assert rows()[iid][2] == "confirmed"
    with flow.database.session() as s:  # what the list shows: the row's, as the workflow gives it
        [week] = assessment_weeks.listing(s, runtime)
        assert (week.instance.id, week.status, week.computed) == (iid, "confirmed", True)
        assert week.departments == assessment_weeks.departments_of(runtime.instance_data(s, iid))

    with flow.database.transaction() as s:  # an assessment saved before the rows existed
        s.execute(delete(AssessmentWeek))
    with flow.database.session() as s:
        [week] = assessment_weeks.listing(s, runtime)
        assert (week.week_start.isoformat(), week.status, week.computed) == ("2026-02-23", "confirmed", True)
    assert rows() == {}  # reading the list wrote nothing
    with flow.database.transaction() as s:
        assert assessment_weeks.backfill(s, runtime) == 1
        assert assessment_weeks.backfill(s, runtime) == 0
    assert rows()[iid][2:] == ("confirmed", True, expected[4])

    with flow.database.transaction() as s:  # no workflow can be read any more: the list still shows it
        s.execute(update(ProcessInstance).values(serializer_version="0.0-unreadable"))
    for username in ("finance", "technical_head"):
        listing = flow.client(username).get("/assessments/").get_data(as_text=True)
        assert f'data-instance-id="{iid}"' in listing and "2026-02-23" in listing, username
    assert f'data-instance-id="{iid}"' not in flow.client("marketing_head").get("/assessments/").get_data(as_text=True)
