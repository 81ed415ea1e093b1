"""The signed weekly assessment as an Excel workbook (for Finance).

Pure: takes the assessment instance's data (``runtime.instance_data`` of a weekly_assessment
instance) and returns the .xlsx bytes. Sheets: the per-case lines (with the logistics split basis
that produced them), the per-department totals, the days late charged (task, basis and the date
each day began), the heads' breakdowns to operators, and the sign-offs. Money is written as
exact decimal numbers with two places, so Finance can sum and check them in Excel.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from app.i18n import N_

MONEY_FORMAT = "#,##0.00"

#: (data key, header msgid, is money) of the per-case lines and the per-department totals
ITEM_COLUMNS = (
    ("case_no", N_("Case"), False),
    ("department", N_("Department"), False),
    ("late_measure_days", N_("Days late (measures)"), False),
    ("late_execution_days", N_("Days late (execution)"), False),
    ("measure_penalty", N_("Penalty for late measures"), True),
    ("execution_penalty", N_("Penalty for late execution"), True),
    ("logistics_cost", N_("Logistics cost"), True),
    ("logistics_base", N_("Assessed logistics amount"), True),
    ("head_share", N_("Head's share"), True),
    ("responsible_share", N_("Responsible person's share"), True),
    ("head_total", N_("Head's total"), True),
    ("logistics_basis", N_("Logistics split basis"), False),
    ("edit_reason", N_("Reason for a change"), False),
)
TOTAL_COLUMNS = (
    ("cases", N_("Cases"), False),
    ("measure_penalty", N_("Penalty for late measures"), True),
    ("execution_penalty", N_("Penalty for late execution"), True),
    ("logistics_cost", N_("Logistics cost"), True),
    ("head_share", N_("Head's share"), True),
    ("responsible_share", N_("Responsible person's share"), True),
    ("head_total", N_("Head's total"), True),
    ("logistics_basis", N_("Logistics split basis"), False),
)
SHEETS = (N_("Cases"), N_("Departments"), N_("Days late"), N_("Breakdowns"), N_("Sign-offs"))
DECISIONS = {"approve": N_("Approved"), "reject": N_("Rejected")}
STATUSES = {"open": N_("In progress"), "confirmed": N_("Confirmed by Finance"), "rejected": N_("Rejected"),
            "incident": N_("Stopped: an administrator must look at it")}
#: which basis produced a logistics figure (app.services.assessment_math.BASES)
SPLIT_BASES = {"total_cost": N_("Tiers on the case's total cost, then shared"),
               "per_share": N_("Tiers on each department's share")}
#: what a day late costs, and how the days are counted (task properties latenessCharge, latenessDays)
CHARGES = {"measures": N_("Measures late (10 yuan/day)"), "execution": N_("Execution late (20 yuan/day)")}
DAY_BASES = {"working": N_("Started working days"), "calendar": N_("Started 24-hour days")}
#: where a rejection sent the assessment back
RETURN_STEPS = {"review": N_("Quality's review of the list"), "logistics": N_("Logistics' freight and losses"),
                "breakdown": N_("The departments' breakdowns")}


def label(table: Mapping[str, str], value: Any) -> str:
    """The (untranslated) label of ``value`` in one of the tables above, else the value itself."""
    return table.get(str(value or ""), str(value or ""))


def decision_label(value: Any) -> str:
    return DECISIONS.get(str(value or ""), str(value or ""))


def status_label(value: Any) -> str:
    return STATUSES.get(str(value or ""), str(value or ""))


def money(value: Any) -> Decimal:
    """A money value of the assessment data as Decimal, rounded half up to 0.01 (0 when missing)."""
    try:
        return Decimal(str(value if value not in (None, "") else 0)).quantize(Decimal("0.01"), ROUND_HALF_UP)
    except InvalidOperation:
        return Decimal("0.00")


def _number(value: Any, is_money: bool) -> Any:
    if is_money:
        return money(value)
    return value


def _header(sheet: Worksheet, titles: list[str], freeze: bool = True) -> None:
    sheet.append(titles)
    for cell in sheet[sheet.max_row]:
        cell.font = Font(bold=True)
    if freeze:
        sheet.freeze_panes = f"A{sheet.max_row + 1}"


def _widths(sheet: Worksheet) -> None:
    for index, column in enumerate(sheet.columns, start=1):
        longest = max((len(str(c.value)) for c in column if c.value is not None), default=8)
        sheet.column_dimensions[get_column_letter(index)].width = min(max(longest + 2, 10), 60)


def _link_case(sheet: Worksheet, links: Mapping[str, str], case_no: Any) -> None:
    """Link the first cell of the last row (the case number) to the case's page, when known."""
    url = links.get(str(case_no or ""))
    if url:
        cell = sheet.cell(row=sheet.max_row, column=1)
        cell.hyperlink = url
        cell.style = "Hyperlink"


def _money_cells(sheet: Worksheet, row: int, columns: tuple[tuple[str, str, bool], ...], offset: int = 1) -> None:
    for index, (_key, _title, is_money) in enumerate(columns):
        if is_money:
            sheet.cell(row=row, column=index + offset).number_format = MONEY_FORMAT


def build_workbook(
    data: Mapping[str, Any],
    translate: Callable[[str], str] = lambda text: text,
    department_name: Callable[[str], str] = lambda code: code,
    case_links: Mapping[str, str] | None = None,
) -> bytes:
    """The workbook of one weekly assessment; ``translate`` localises headers and labels,
    ``case_links`` maps case numbers to the URL of their case page (set as hyperlinks)."""
    book = Workbook()
    sheet = book.active
    sheet.title = translate(N_("Cases"))
    _case_sheet(sheet, data, translate, department_name, case_links or {})
    _department_sheet(book.create_sheet(translate(N_("Departments"))), data, translate, department_name)
    _lateness_sheet(book.create_sheet(translate(N_("Days late"))), data, translate, department_name, case_links or {})
    _breakdown_sheet(book.create_sheet(translate(N_("Breakdowns"))), data, translate, department_name)
    _sign_off_sheet(book.create_sheet(translate(N_("Sign-offs"))), data, translate, department_name)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _case_sheet(sheet: Worksheet, data: Mapping[str, Any], t: Callable[[str], str],
                department_name: Callable[[str], str], links: Mapping[str, str]) -> None:
    """One line per case and department, the case number linked to its case page."""
    _header(sheet, [t(title) for _k, title, _m in ITEM_COLUMNS])
    for item in data.get("assessment_items") or []:
        values = []
        for key, _title, is_money in ITEM_COLUMNS:
            value = item.get(key)
            if key == "department":
                value = department_name(str(value or ""))
            elif key == "logistics_basis":
                value = t(label(SPLIT_BASES, value))
            values.append(_number(value, is_money))
        sheet.append(values)
        _money_cells(sheet, sheet.max_row, ITEM_COLUMNS)
        _link_case(sheet, links, item.get("case_no"))
    _widths(sheet)


def _department_sheet(sheet: Worksheet, data: Mapping[str, Any], t: Callable[[str], str],
                      department_name: Callable[[str], str]) -> None:
    """Per-department totals, with a grand total in bold."""
    _header(sheet, [t(N_("Department")), *[t(title) for _k, title, _m in TOTAL_COLUMNS]])
    totals = data.get("assessment_totals") or {}
    grand = {key: Decimal("0.00") for key, _t, is_money in TOTAL_COLUMNS if is_money}
    for code in sorted(totals):
        row = totals[code]
        sheet.append([department_name(code), *[
            t(label(SPLIT_BASES, row.get(k))) if k == "logistics_basis" else _number(row.get(k), m)
            for k, _t, m in TOTAL_COLUMNS
        ]])
        _money_cells(sheet, sheet.max_row, TOTAL_COLUMNS, offset=2)
        for key in grand:
            grand[key] += money(row.get(key))
    if totals:
        sheet.append([t(N_("Total")), *[
            grand[k] if m else sum(int(r.get(k) or 0) for r in totals.values()) if k == "cases" else None
            for k, _t, m in TOTAL_COLUMNS
        ]])
        _money_cells(sheet, sheet.max_row, TOTAL_COLUMNS, offset=2)
        for cell in sheet[sheet.max_row]:
            cell.font = Font(bold=True)
    _widths(sheet)


def _lateness_sheet(sheet: Worksheet, data: Mapping[str, Any], t: Callable[[str], str],
                    department_name: Callable[[str], str], links: Mapping[str, str]) -> None:
    """The charged tasks behind the days late: one line per task, with the date each day began."""
    _header(sheet, [t(N_("Case")), t(N_("Department")), t(N_("Task")), t(N_("Charge")), t(N_("Days counted as")),
                    t(N_("Due")), t(N_("Done")), t(N_("Days late")), t(N_("Days begun on"))])
    for charge in data.get("lateness") or []:
        days = charge.get("days") or []
        sheet.append([
            charge.get("case_no"), department_name(str(charge.get("department") or "")), charge.get("task"),
            t(label(CHARGES, charge.get("charge"))), t(label(DAY_BASES, charge.get("basis"))),
            str(charge.get("due_at") or ""), str(charge.get("completed_at") or ""), len(days), ", ".join(days),
        ])
        _link_case(sheet, links, charge.get("case_no"))
    _widths(sheet)


def _breakdown_sheet(sheet: Worksheet, data: Mapping[str, Any], t: Callable[[str], str],
                     department_name: Callable[[str], str]) -> None:
    """The heads' breakdowns of their department's amount to operators."""
    _header(sheet, [t(N_("Department")), t(N_("Operator")), t(N_("Case")), t(N_("Amount")), t(N_("Reason")),
                    t(N_("Note")), t(N_("Reported at"))])
    for breakdown in sorted(data.get("breakdowns") or [], key=lambda b: str(b.get("department") or "")):
        for operator in breakdown.get("operators") or []:
            sheet.append([
                department_name(str(breakdown.get("department") or "")), operator.get("operator"),
                operator.get("case_no"), money(operator.get("amount")), operator.get("reason"),
                breakdown.get("note"), str(breakdown.get("submitted_at") or ""),
            ])
            sheet.cell(row=sheet.max_row, column=4).number_format = MONEY_FORMAT
    _widths(sheet)


def _sign_off_sheet(sheet: Worksheet, data: Mapping[str, Any], t: Callable[[str], str],
                    department_name: Callable[[str], str]) -> None:
    """Who signed what and when, Finance's confirmation and the earlier rejections."""
    period = f"{data.get('week_start') or ''} – {data.get('week_end') or ''}"
    sheet.append([t(N_("Weekly assessment")), period])
    sheet.append([t(N_("Status")), t(status_label(data.get("assessment_status")))])
    sheet.append([])
    _header(sheet, [t(N_("Signed by")), t(N_("Decision")), t(N_("Reason")), t(N_("At"))], freeze=False)
    for signer, key in (("Head of Quality", "quality_sign_off"), ("General Manager", "gm_sign_off")):
        sign = data.get(key) or {}
        sheet.append([t(signer), t(decision_label(sign.get("decision"))), sign.get("reason"),
                      str(sign.get("at") or "")])
    sheet.append([t(N_("Finance")), t(N_("Confirmed")) if data.get("confirmed") else "", data.get("finance_note"),
                  str(data.get("confirmed_at") or "")])
    sheet.append([t(N_("Applied in period")), data.get("applied_period")])
    rejections = data.get("rejections") or []
    if rejections:
        sheet.append([])
        sheet.append([t(N_("Earlier rejections"))])
        _header(sheet, [t(N_("Sent back by")), t(N_("Decision")), t(N_("Reason")), t(N_("At")), t(N_("Sent back to"))],
                freeze=False)
        for rejection in rejections:
            sheet.append([department_name(str(rejection.get("by") or "")), t(N_("Rejected")),
                          rejection.get("reason"), str(rejection.get("at") or ""),
                          t(label(RETURN_STEPS, rejection.get("return_to") or "review"))])
    _widths(sheet)


__all__ = [
    "CHARGES", "DAY_BASES", "RETURN_STEPS", "SHEETS", "SPLIT_BASES", "build_workbook", "decision_label", "label",
    "money", "status_label",
]
