"""The weekly assessment (bpmn/weekly_assessment.bpmn) from start to Finance through HTTP, with
the computed penalties and logistics splits checked against hand-computed values, and the
assessment result pages and Excel export."""

from __future__ import annotations

import io
import re

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from app.data.models import InstanceStatus, User
from tests.process_http.payloads import intake

# Hand-computed (procedure §考核: 10 yuan per day late measures, 20 yuan per day late execution;
# logistics C ≤ 100: base C; 101–500: 100 + (C − 100) × 50 %; ≥ 501: 300 + (C − 500) × 40 %;
# head 20 %, responsible person 80 %; a case's cost is shared equally by its departments):
#   case A, production: freight 300 + loss 201 = 501 → base 300 + 1 × 0.4 = 300.40,
#                       head 60.08, person 240.32, no lateness → head total 60.08
#   case B, purchasing: 2 days late measures = 20, 1 day late execution = 20, no cost → head total 40
#                       (first round the list says 1 day late measures = 10 → head total 30)
#   case C, freight 200 shared by production and technical → 100 each → base 100, head 20, person 80;
#           technical 3 days late execution = 60 → head total 80; production head total 20
#   case D, warehouse: nothing → no breakdown task for the warehouse
#   production totals: head 60.08 + 20 = 80.08, person 240.32 + 80 = 320.32, head total 80.08
EXPECTED_ITEMS = {  # (case, dept): (measure, execution, cost, base, head, person, head_total)
    ("A", "production"): (0, 0, 501, 300.4, 60.08, 240.32, 60.08),
    ("B", "purchasing"): (20, 20, 0, 0, 0, 0, 40),
    ("C", "production"): (0, 0, 100, 100, 20, 80, 20),
    ("C", "technical"): (0, 60, 100, 100, 20, 80, 80),
    ("D", "warehouse"): (0, 0, 0, 0, 0, 0, 0),
}
ITEM_KEYS = ("measure_penalty", "execution_penalty", "logistics_cost", "logistics_base", "head_share",
             "responsible_share", "head_total")
EXPECTED_TOTALS = {  # dept: (cases, head_share, responsible_share, head_total)
    "production": (2, 80.08, 320.32, 80.08),
    "purchasing": (1, 0, 0, 40),
    "technical": (1, 20, 80, 80),
    "warehouse": (1, 0, 0, 0),
}
HEADS = {"production": ("production_head", "web"), "purchasing": ("purchasing_head", "api"),
         "technical": ("technical_head", "web")}
#: what each head breaks down (head total + responsible persons' share); round 1 lists purchasing's
#: measures 1 day late (10 + 20), the corrected round 2 says 2 days (20 + 20)
BREAKDOWN_TOTALS = ({"production": "400.40", "purchasing": "30.00", "technical": "160.00"},
                    {"production": "400.40", "purchasing": "40.00", "technical": "160.00"})


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
    assert (purchasing["measure_penalty"], purchasing["head_total"]) == (10, 30)
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
    assert re.search(r'data-testid="total-head-share">80.08<', production)
    assert re.search(r'data-testid="total-responsible-share">320.32<', production)
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
    assert book.sheetnames == ["Cases", "Departments", "Breakdowns", "Sign-offs"]
    cases_sheet, depts, ops, signs = (book[name] for name in book.sheetnames)
    names = {"production": "Production Workshop", "purchasing": "Purchasing", "technical": "Technical",
             "warehouse": "Warehouse & Logistics"}
    assert [c.value for c in cases_sheet[1]][:2] == ["Case", "Department"]
    letter = {number: letter for letter, (_id, number) in cases.items()}
    lines = {}
    for cells in cases_sheet.iter_rows(min_row=2):
        dept = next(code for code, name in names.items() if name == cells[1].value)
        lines[(letter[cells[0].value], dept)] = tuple(c.value for c in cells[4:11])
        case_id = cases[letter[cells[0].value]][0]
        assert cells[0].hyperlink.target.endswith(f"/cases/{case_id}")
    assert lines == EXPECTED_ITEMS
    totals = {r[0]: r for r in depts.iter_rows(min_row=2, values_only=True)}
    assert totals["Production Workshop"][1] == 2
    assert totals["Production Workshop"][5:8] == (80.08, 320.32, 80.08)
    assert totals["Total"][2:8] == (20, 80, 701, 100.08, 400.32, 200.08)  # 501 + 100 + 100
    operators = sorted((r[0], r[1], r[2], r[3]) for r in ops.iter_rows(min_row=2, values_only=True))
    assert operators == [
        ("Production Workshop", "production操作员", cases["C"][1], 400.4),
        ("Purchasing", "purchasing操作员", cases["B"][1], 40.0),
        ("Technical", "technical操作员", cases["C"][1], 160.0),
    ]
    signed = {r[0]: r for r in signs.iter_rows(values_only=True) if r and r[0]}
    assert signed["Weekly assessment"][1] == "2026-02-23 – 2026-03-01"
    assert signed["Status"][1] == "Confirmed by Finance"
    assert signed["Head of Quality"][1:3] == ("Approved", "同意")
    assert signed["General Manager"][1:3] == ("Approved", "同意执行")
    assert signed["Finance"][1] == "Confirmed" and signed["Applied in period"][1] == "2026-03"
    assert signed["Quality"][1:3] == ("Rejected", "B案措施延误应为2天")
