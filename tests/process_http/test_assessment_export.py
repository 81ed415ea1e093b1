"""app.services.assessment_export.build_workbook on hand-written assessment data: read back with
openpyxl, every number checked."""

from __future__ import annotations

import io

from openpyxl import load_workbook

from app.services.assessment_export import build_workbook, money

DATA = {
    "week_start": "2026-03-02", "week_end": "2026-03-08", "assessment_status": "confirmed",
    "assessment_items": [
        {"case_no": "FB-2026-00001", "department": "production", "late_measure_days": 0, "late_execution_days": 1,
         "measure_penalty": "0.00", "execution_penalty": "20.00", "logistics_cost": "501.00",
         "logistics_base": "300.40", "head_share": "60.08", "responsible_share": "240.32", "head_total": "80.08",
         "logistics_basis": "total_cost", "edit_reason": None},
        {"case_no": "FB-2026-00002", "department": "purchasing", "late_measure_days": 2, "late_execution_days": 0,
         "measure_penalty": "20.00", "execution_penalty": "0.00", "logistics_cost": "0.00", "logistics_base": "0.00",
         "head_share": "0.00", "responsible_share": "0.00", "head_total": "20.00", "logistics_basis": "total_cost",
         "edit_reason": "按记录更正"},
    ],
    "lateness": [
        {"case_no": "FB-2026-00001", "department": "production", "task": "落实纠正措施", "charge": "execution",
         "basis": "working", "due_at": "2026-03-04T09:30:00+00:00", "completed_at": None, "state": "open",
         "first_day": 1, "days": ["2026-03-05"]},
        {"case_no": "FB-2026-00002", "department": "purchasing", "task": "编写8D报告", "charge": "measures",
         "basis": "calendar", "due_at": "2026-03-04T01:00:00+00:00", "completed_at": "2026-03-05T03:00:00+00:00",
         "state": "completed", "first_day": 1, "days": ["2026-03-04", "2026-03-05"]},
    ],
    "assessment_totals": {
        "purchasing": {"cases": 1, "measure_penalty": "20.00", "execution_penalty": "0.00", "logistics_cost": "0.00",
                       "head_share": "0.00", "responsible_share": "0.00", "head_total": "20.00",
                       "logistics_basis": "total_cost"},
        "production": {"cases": 1, "measure_penalty": "0.00", "execution_penalty": "20.00", "logistics_cost": "501.00",
                       "head_share": "60.08", "responsible_share": "240.32", "head_total": "80.08",
                       "logistics_basis": "total_cost"},
    },
    "breakdowns": [
        {"department": "production", "note": "已落实", "submitted_at": "2026-03-04T02:00:00+00:00",
         "operators": [{"operator": "王五", "case_no": "FB-2026-00001", "amount": 200.32, "reason": "焊接"},
                       {"operator": "赵六", "case_no": "FB-2026-00001", "amount": "40", "reason": None}]},
    ],
    "quality_sign_off": {"decision": "approve", "reason": "", "at": "2026-03-05T01:00:00+00:00"},
    "gm_sign_off": {"decision": "approve", "reason": "同意", "at": "2026-03-05T03:00:00+00:00"},
    "rejections": [{"by": "management", "reason": "金额有误", "at": "2026-03-04T09:00:00+00:00",
                    "return_to": "logistics"}],
    "confirmed": True, "applied_period": "2026-03", "finance_note": "三月执行",
    "confirmed_at": "2026-03-06T01:00:00+00:00",
}
NAMES = {"production": "生产车间", "purchasing": "采购部", "management": "总经理办公室"}


def read(content: bytes):
    return load_workbook(io.BytesIO(content))


def test_workbook_sheets_and_numbers():
    content = build_workbook(DATA, department_name=lambda code: NAMES.get(code, code),
                             case_links={"FB-2026-00001": "http://x/cases/7"})
    book = read(content)
    assert book.sheetnames == ["Cases", "Departments", "Days late", "Breakdowns", "Sign-offs"]
    lines = list(book["Cases"].iter_rows(min_row=2, values_only=True))
    total_cost = "Tiers on the case's total cost, then shared"
    assert lines == [
        ("FB-2026-00001", "生产车间", 0, 1, 0.0, 20.0, 501.0, 300.4, 60.08, 240.32, 80.08, total_cost, None),
        ("FB-2026-00002", "采购部", 2, 0, 20.0, 0.0, 0.0, 0.0, 0.0, 0.0, 20.0, total_cost, "按记录更正"),
    ]
    assert book["Cases"]["A2"].hyperlink.target == "http://x/cases/7"
    assert book["Cases"]["A3"].hyperlink is None
    assert book["Cases"]["I2"].number_format == "#,##0.00"
    depts = list(book["Departments"].iter_rows(min_row=2, values_only=True))
    assert depts == [
        ("生产车间", 1, 0.0, 20.0, 501.0, 60.08, 240.32, 80.08, total_cost),
        ("采购部", 1, 20.0, 0.0, 0.0, 0.0, 0.0, 20.0, total_cost),
        ("Total", 2, 20.0, 20.0, 501.0, 60.08, 240.32, 100.08, None),
    ]
    days = list(book["Days late"].iter_rows(min_row=2, values_only=True))
    assert days == [
        ("FB-2026-00001", "生产车间", "落实纠正措施", "Execution late (20 yuan/day)", "Started working days",
         "2026-03-04T09:30:00+00:00", None, 1, "2026-03-05"),
        ("FB-2026-00002", "采购部", "编写8D报告", "Measures late (10 yuan/day)", "Started 24-hour days",
         "2026-03-04T01:00:00+00:00", "2026-03-05T03:00:00+00:00", 2, "2026-03-04, 2026-03-05"),
    ]
    assert book["Days late"]["A2"].hyperlink.target == "http://x/cases/7"
    ops = list(book["Breakdowns"].iter_rows(min_row=2, values_only=True))
    assert [(r[0], r[1], r[2], r[3]) for r in ops] == [
        ("生产车间", "王五", "FB-2026-00001", 200.32), ("生产车间", "赵六", "FB-2026-00001", 40.0)]
    signs = {r[0]: r for r in book["Sign-offs"].iter_rows(values_only=True) if r and r[0]}
    assert signs["Weekly assessment"][1] == "2026-03-02 – 2026-03-08"
    assert signs["Status"][1] == "Confirmed by Finance"
    assert signs["Head of Quality"][1] == "Approved" and signs["General Manager"][2] == "同意"
    assert signs["Finance"][1:3] == ("Confirmed", "三月执行")
    assert signs["总经理办公室"][1:5] == ("Rejected", "金额有误", "2026-03-04T09:00:00+00:00",
                                    "Logistics' freight and losses")


def test_headers_are_translated_and_empty_data_gives_empty_sheets():
    book = read(build_workbook({}, translate=lambda text: f"<{text}>"))
    assert book.sheetnames == ["<Cases>", "<Departments>", "<Days late>", "<Breakdowns>", "<Sign-offs>"]
    assert book["<Cases>"].max_row == 1 and book["<Cases>"]["A1"].value == "<Case>"
    assert book["<Departments>"].max_row == 1


def test_money_rounds_to_cents():
    assert str(money(300.4)) == "300.40" and str(money("0.005")) == "0.01" and str(money(None)) == "0.00"
