"""``/dashboard``: filters, charts (drawn by ``static/js/dashboard.js`` from the JSON at
``/dashboard/data/<metric>``), downloads and the cases behind a chart's bar or slice.

Who sees what is the policy's (``may_view_analytics``, ``analytics_scope``); every figure comes from
``app.services.analytics``, as the API's do.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, jsonify, render_template, request
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.data.queries.analytics import product_models
from app.data.queries.paging import page_of
from app.extensions import db
from app.i18n import N_
from app.services import accounts, analytics, policy
from app.services.analytics import drill, export
from app.services.analytics.filters import PERIODS, ReportFilter, parse_filter
from app.services.analytics.labels import METRIC_TITLES
from app.services.analytics.naming import Labels
from app.services.errors import InvalidInput

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")

PAGE_SIZE = 50
TITLES = METRIC_TITLES
DRILL_TITLES = {**TITLES, "overdue": N_("Overdue tasks now")}
#: words the charts need (passed to the script in a data attribute)
WORDS = {
    "cases": N_("Cases"), "cumulative": N_("Cumulative (%)"), "median": N_("Median (h)"),
    "p90": N_("90th percentile (h)"), "rate": N_("On-time rate (%)"), "previous": N_("Previous period"),
    "noData": N_("No data for this period."), "openCases": N_("Open cases by age"),
    "overdue": N_("Overdue tasks now"), "stage": N_("By stage"), "department": N_("By department"),
    "failed": N_("The figures could not be loaded."), "yuan": N_("yuan"),
}
DIMENSIONS = {"channel": N_("Channel"), "feedback_type": N_("Type"), "category": N_("Category"),
              "product_model": N_("Product model")}
PERIOD_LABELS = {"week": N_("By week"), "month": N_("By month"), "quarter": N_("By quarter"),
                 "custom": N_("Custom period")}


@bp.before_request
@login_required
def require_reader():
    policy.require(policy.may_view_analytics(current_user), N_("You may not see the reports."))


def _labels() -> Labels:
    return Labels(db.session, str(g.get("locale") or "zh"), _)


def _filter() -> ReportFilter:
    return analytics.scoped(db.session, current_user, parse_filter(request.args))


def _choices(labels: Labels) -> dict[str, Any]:
    scope = policy.analytics_scope(current_user)
    departments = [d for d in accounts.departments(db.session) if scope is None or d.id in scope]
    intake = {name: sorted(labels.choices(name).items(), key=lambda item: item[1])
              for name in ("feedback_type", "category", "channel")}
    return {"departments": departments, "models": product_models(db.session), "intake": intake}


@bp.route("/")
def index():
    labels = _labels()
    error = None
    try:
        f = _filter()
    except InvalidInput as exc:
        f, error = parse_filter({}), _(exc.message)
        f = analytics.scoped(db.session, current_user, f)
    previous = f.previous()
    args = {k: v for k, v in request.args.items() if v}
    return render_template(
        "dashboard/index.html", title=_("Dashboard"), f=f, previous=previous, args=args, error=error,
        query=f.query_args(), titles={k: _(v) for k, v in TITLES.items()},
        words={k: _(v) for k, v in WORDS.items()}, dimensions={k: _(v) for k, v in DIMENSIONS.items()},
        periods=[(p, _(PERIOD_LABELS[p])) for p in PERIODS], locale=labels.locale,
        scoped_to=policy.analytics_scope(current_user), **_choices(labels),
    ), 400 if error else 200


@bp.route("/data/<metric>")
def data(metric: str):
    """One metric as JSON for the charts (the API's body, signed in by the session)."""
    f, result = analytics.report(db.session, current_user, metric, request.args, _labels())
    result.pop("table", None)
    return jsonify(metric=metric, start=f.start.isoformat(), end=f.end.isoformat(), data=result)


@bp.route("/export/<metric>")
def download(metric: str):
    """One metric's table as Excel (``format=xlsx``, default) or CSV (``format=csv``)."""
    fmt = request.args.get("format", "xlsx")
    if fmt not in ("xlsx", "csv"):
        raise InvalidInput(N_("Unknown download format."))
    f, result = analytics.report(db.session, current_user, metric, request.args, _labels())
    title = _(TITLES[metric])
    name = f"{metric}_{f.start.isoformat()}_{f.end.isoformat()}.{fmt}"
    if fmt == "csv":
        body: bytes | str = export.to_csv(metric, title, result, f, _)
        mimetype = "text/csv; charset=utf-8"
    else:
        body = export.to_xlsx(metric, title, result, f, _)
        mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return Response(body, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.route("/cases")
def cases():
    """The cases behind a bar or slice: the dashboard's filters plus ``chart`` and ``key``."""
    f = _filter()
    stmt = drill.drill(db.session, f, request.args)
    try:
        page = max(int(request.args.get("page", 1)), 1)
    except ValueError:
        page = 1
    rows, total = page_of(db.session, stmt, page, PAGE_SIZE)
    labels = _labels()
    chart = request.args.get("chart", "")
    dimension = {"pareto_causes": "cause", "pareto_models": "product_model", "ageing": "age",
                 "satisfaction": "score", "volumes": request.args.get("by", "")}.get(chart, "department")
    key = request.args.get("key", "")
    key_label = labels.key(dimension, key) if chart != "repeat_rate" else ""
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_template(
        "dashboard/cases.html", title=_("Cases behind the chart"), cases=rows, total=total, page=page,
        pages=max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1), chart_title=_(DRILL_TITLES.get(chart, chart)),
        key=key, key_label=key_label, bucket=request.args.get("bucket", ""), f=f, args=args,
        back=f.query_args(), labels=labels,
    )
