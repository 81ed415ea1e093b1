"""A metric's ``table`` as an Excel workbook or CSV text (the dashboard's downloads).

Column headers are catalogue msgids, translated by the caller's ``gettext``. The first rows say
what the figures are: the metric, the period and the filters.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font

from app.i18n import N_
from app.services.analytics.filters import ReportFilter


def _header(metric: str, title: str, f: ReportFilter, gettext: Callable[[str], str]) -> list[list[Any]]:
    filters = ", ".join(f"{k}={v}" for k, v in f.query_args().items() if k not in ("period", "start", "end"))
    return [[title, metric], [gettext(N_("Period")), f.label()], [gettext(N_("Filters")), filters or "-"], []]


def _columns(result: dict[str, Any], gettext: Callable[[str], str]) -> list[str]:
    return [gettext(c) for c in result["table"]["columns"]]


def to_xlsx(metric: str, title: str, result: dict[str, Any], f: ReportFilter,
            gettext: Callable[[str], str]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = metric[:31]
    for row in _header(metric, title, f, gettext):
        sheet.append(row)
    sheet.append(_columns(result, gettext))
    for cell in sheet[sheet.max_row]:
        cell.font = Font(bold=True)
    for row in result["table"]["rows"]:
        sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def to_csv(metric: str, title: str, result: dict[str, Any], f: ReportFilter, gettext: Callable[[str], str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    for row in _header(metric, title, f, gettext):
        writer.writerow(row)
    writer.writerow(_columns(result, gettext))
    for row in result["table"]["rows"]:
        writer.writerow(["" if v is None else v for v in row])
    return "\ufeff" + out.getvalue()  # Excel opens UTF-8 CSV with a byte-order mark as UTF-8
