"""The case list as an Excel workbook, with the filters the user chose.

The rows are written in openpyxl's write-only mode (nothing kept per row), at most
:data:`MAX_ROWS`; the caller passes the column headers and cell values already in the user's
language. The export is audited (``cases_exported``): it carries customers' contact details.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from sqlalchemy import Select
from sqlalchemy.orm import Session

from app.data.models import Case, User
from app.i18n import N_
from app.services import policy
from app.services.audit_trail import record_export

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_ROWS = 50_000


def workbook(title: str, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """An .xlsx with one sheet: a bold header row and ``rows``."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title[:31])
    bold = Font(bold=True)
    header_cells = []
    for header in headers:
        cell = WriteOnlyCell(sheet, value=header)
        cell.font = bold
        header_cells.append(cell)
    sheet.append(header_cells)
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def export_cases(session: Session, user: User, stmt: Select[Any], title: str, headers: Sequence[str],
                 cells: Callable[[Case], Sequence[Any]], described: str) -> bytes:
    """The cases ``stmt`` selects (the list's query with its filters) as a workbook, audited
    with ``described`` (the filters, for the trail)."""
    policy.require(policy.may_list_cases(user), N_("You may not list cases."))
    cases = session.scalars(stmt.limit(MAX_ROWS).execution_options(yield_per=1000))
    content = workbook(title, headers, (cells(case) for case in cases))
    record_export(session, user, "cases_exported", described, after={"format": "xlsx"})
    return content
