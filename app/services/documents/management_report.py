"""The management report for a period: the dashboard's figures (every metric of
:mod:`app.services.analytics`, none computed here) as static bar charts and tables, with the
cases received in the period, in Chinese or English — as a printable page and as PDF.

Charts are plain SVG drawn by the template from :func:`charts` (bars of one series per metric),
so the PDF needs no browser. Who may read it is the dashboard's rule (``may_view_analytics``;
a department head sees their own departments' figures, see :func:`analytics.scoped`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.clock import clock
from app.data.models import Case, User
from app.data.queries import analytics as q
from app.i18n import N_
from app.services import analytics, audit_trail, policy
from app.services.analytics import labels as L
from app.services.analytics.filters import ReportFilter, parse_filter
from app.services.analytics.labels import METRIC_TITLES
from app.services.analytics.naming import Labels
from app.services.analytics.scope import window
from app.services.documents.case_documents import LANGUAGES, RenderedDocument
from app.services.documents.pdf import FONT_FAMILY, render_pdf
from app.services.errors import InvalidInput

TITLE = N_("Management report")
EXPORTED = "report_exported"
#: the report's sections in order (metric → title): the dashboard's charts
SECTIONS = METRIC_TITLES
MAX_BARS = 15
MAX_TIME_BARS = 31  # a month by day
MAX_TABLE_ROWS = 40
MAX_CASES = 200


@dataclass
class Bar:
    label: str
    value: float
    text: str


@dataclass
class ManagementReport:
    filter: ReportFilter
    previous: ReportFilter
    metrics: dict[str, dict[str, Any]]
    charts: dict[str, list[Bar]]
    cases: list[Case]
    cases_total: int
    generated_at: datetime = field(default_factory=clock.now)


def _number(value: Any) -> float:
    try:
        return float(value or 0)
    except (TypeError, ValueError):
        return 0.0


def _fmt(value: float, unit: str = "") -> str:
    text = f"{value:.1f}".rstrip("0").rstrip(".") if value % 1 else str(int(value))
    return text + unit


def _bars(items: list[tuple[str, Any]], unit: str = "", limit: int = MAX_BARS) -> list[Bar]:
    return [Bar(label, _number(value), _fmt(_number(value), unit)) for label, value in items[:limit]]


def charts(metrics: Mapping[str, dict[str, Any]]) -> dict[str, list[Bar]]:
    """One series per metric to draw as bars (the tables carry the rest)."""
    m = metrics
    volumes = m["volumes"]
    series = volumes["dimensions"]["channel"]["series"]
    per_bucket = [sum(s["counts"][i] for s in series) for i in range(len(volumes["buckets"]))]
    return {
        "volumes": _bars(list(zip(volumes["buckets"], per_bucket, strict=True))[-MAX_TIME_BARS:], limit=MAX_TIME_BARS),
        "pareto_causes": _bars([(i["label"], i["count"]) for i in m["pareto_causes"]["items"]]),
        "pareto_models": _bars([(i["label"], i["count"]) for i in m["pareto_models"]["items"]]),
        "cycle_times": _bars([(s["label"], s["median_hours"]) for s in m["cycle_times"]["stages"]], " h"),
        "on_time": _bars([(d["label"], d["measures"]["rate"]) for d in m["on_time"]["departments"]
                          if d["measures"]["rate"] is not None], "%"),
        "ageing": _bars([(b["label"], b["count"]) for b in m["ageing"]["buckets"]]),
        "satisfaction": _bars([(lv["label"], lv["count"]) for lv in m["satisfaction"]["levels"]]),
        "costs": _bars([(d["label"], sum(_number(d[k]) for k in L.COSTS)) for d in m["costs"]["departments"]]),
        "repeat_rate": [],
    }


def build(session: Session, f: ReportFilter, labels: Labels) -> ManagementReport:
    """Every metric of the (scoped) filter, the charts drawn from them, the cases received."""
    metrics = {name: analytics.compute(session, name, f, labels) for name in SECTIONS}
    for result in metrics.values():
        table = result.get("table") or {}
        table["headers"] = [labels.text(column) for column in table.get("columns") or []]
        table["truncated"] = max(len(table.get("rows") or []) - MAX_TABLE_ROWS, 0)
        table["rows"] = (table.get("rows") or [])[:MAX_TABLE_ROWS]
    received = q.drill_cases(window(session, f), None)
    cases = list(session.scalars(received.limit(MAX_CASES)))
    return ManagementReport(f, f.previous(), metrics, charts(metrics), cases, metrics["volumes"]["total"])


def _translate() -> Callable[[str], str]:
    from flask_babel import gettext

    return lambda message: str(gettext(message))


def render_html(session: Session, user: User, args: Mapping[str, str], lang: str, *, for_pdf: bool,
                printed_by: str | None = None, **page: Any) -> tuple[ManagementReport, str]:
    """The report ``args`` (the dashboard's filters) describe, as ``user`` may see it, as HTML in
    ``lang``; printed by ``user`` unless ``printed_by`` (a msgid, e.g. the scheduler) says otherwise."""
    from flask import render_template
    from flask_babel import force_locale, gettext

    policy.require(policy.may_view_analytics(user), N_("You may not see the reports."))  # before reading input
    if lang not in LANGUAGES:
        raise InvalidInput(N_("Unknown language; use zh or en."))
    f = analytics.scoped(session, user, parse_filter(args))
    with force_locale(lang):
        report = build(session, f, Labels(session, lang, _translate()))
        html = render_template("documents/management_report.html", report=report, lang=lang, for_pdf=for_pdf,
                               title_msgid=TITLE, sections={k: str(gettext(v)) for k, v in SECTIONS.items()},
                               font_family=FONT_FAMILY,
                               printed_by=gettext(printed_by) if printed_by else user.display_name, **page)
    return report, html


def pdf(session: Session, user: User, args: Mapping[str, str], lang: str,
        printed_by: str | None = None) -> tuple[ManagementReport, RenderedDocument]:
    """The report as PDF (not audited: see :func:`export_pdf`)."""
    report, html = render_html(session, user, args, lang, for_pdf=True, printed_by=printed_by)
    f = report.filter
    name = f"management-report-{f.start.isoformat()}-{f.end.isoformat()}-{lang}.pdf"
    return report, RenderedDocument(name, render_pdf(html))


def export_pdf(session: Session, user: User, args: Mapping[str, str], lang: str) -> RenderedDocument:
    """The report as PDF for ``user``; audited as ``report_exported`` in the caller's transaction."""
    report, document = pdf(session, user, args, lang)
    f = report.filter
    audit_trail.record_export(session, user, EXPORTED, f"{f.label()} ({lang})",
                              after={"report": "management", "filter": f.query_args(), "language": lang,
                                     "bytes": len(document.content)})
    return document
