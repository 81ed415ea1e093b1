"""The signed weekly assessment as an Excel workbook (for Finance).

Pure: takes the assessment instance's data (``runtime.instance_data`` of a weekly_assessment
instance) and returns the .xlsx bytes. Sheets: the per-case lines, the per-department totals,
the heads' breakdowns to operators, and the sign-offs. Money is written as numbers with two
decimals, so Finance can sum and check them in Excel.
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
)
TOTAL_COLUMNS = (
    ("cases", N_("Cases"), False),
    ("measure_penalty", N_("Penalty for late measures"), True),
    ("execution_penalty", N_("Penalty for late execution"), True),
    ("logistics_cost", N_("Logistics cost"), True),
    ("head_share", N_("Head's share"), True),
    ("responsible_share", N_("Responsible person's share"), True),
    ("head_total", N_("Head's total"), True),
)
SHEETS = (N_("Cases"), N_("Departments"), N_("Breakdowns"), N_("Sign-offs"))
DECISIONS = {"approve": N_("Approved"), "reject": N_("Rejected")}
STATUSES = {"open": N_("In progress"), "confirmed": N_("Confirmed by Finance"), "rejected": N_("Rejected")}


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
        return float(money(value))
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
            values.append(_number(value, is_money))
        sheet.append(values)
        _money_cells(sheet, sheet.max_row, ITEM_COLUMNS)
        url = links.get(str(item.get("case_no") or ""))
        if url:
            sheet.cell(row=sheet.max_row, column=1).hyperlink = url
            sheet.cell(row=sheet.max_row, column=1).style = "Hyperlink"
    _widths(sheet)


def _department_sheet(sheet: Worksheet, data: Mapping[str, Any], t: Callable[[str], str],
                      department_name: Callable[[str], str]) -> None:
    """Per-department totals, with a grand total in bold."""
    _header(sheet, [t(N_("Department")), *[t(title) for _k, title, _m in TOTAL_COLUMNS]])
    totals = data.get("assessment_totals") or {}
    grand = {key: Decimal("0") for key, _t, is_money in TOTAL_COLUMNS if is_money}
    for code in sorted(totals):
        row = totals[code]
        sheet.append([department_name(code), *[_number(row.get(k), m) for k, _t, m in TOTAL_COLUMNS]])
        _money_cells(sheet, sheet.max_row, TOTAL_COLUMNS, offset=2)
        for key in grand:
            grand[key] += money(row.get(key))
    if totals:
        sheet.append([t(N_("Total")), *[
            float(grand[k]) if m else sum(int(r.get(k) or 0) for r in totals.values())
            for k, _t, m in TOTAL_COLUMNS
        ]])
        _money_cells(sheet, sheet.max_row, TOTAL_COLUMNS, offset=2)
        for cell in sheet[sheet.max_row]:
            cell.font = Font(bold=True)
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
                operator.get("case_no"), float(money(operator.get("amount"))), operator.get("reason"),
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
    for label, key in (("Head of Quality", "quality_sign_off"), ("General Manager", "gm_sign_off")):
        sign = data.get(key) or {}
        sheet.append([t(label), t(decision_label(sign.get("decision"))), sign.get("reason"),
                      str(sign.get("at") or "")])
    sheet.append([t(N_("Finance")), t(N_("Confirmed")) if data.get("confirmed") else "", data.get("finance_note"),
                  str(data.get("confirmed_at") or "")])
    sheet.append([t(N_("Applied in period")), data.get("applied_period")])
    rejections = data.get("rejections") or []
    if rejections:
        sheet.append([])
        sheet.append([t(N_("Earlier rejections"))])
        for rejection in rejections:
            sheet.append([department_name(str(rejection.get("by") or "")), t(N_("Rejected")),
                          rejection.get("reason"), str(rejection.get("at") or "")])
    _widths(sheet)


__all__ = ["SHEETS", "build_workbook", "decision_label", "money", "status_label"]
