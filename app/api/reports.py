"""Reports: the dashboard's figures as JSON (``GET /api/v1/reports/<metric>``), from the same
service and under the same policy as ``/dashboard``."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from flask_babel import gettext as _

from app.api import bp
from app.api.auth import api_locale, api_user, endpoint
from app.extensions import db
from app.services import analytics
from app.services.analytics.filters import ReportFilter


def period_summary(f: ReportFilter) -> dict[str, Any]:
    previous = f.previous()
    return {"period": {"kind": f.period, "start": f.start.isoformat(), "end": f.end.isoformat()},
            "previous": {"start": previous.start.isoformat(), "end": previous.end.isoformat()},
            "filters": {k: v for k, v in f.query_args().items() if k not in ("period", "start", "end")}}


@bp.get("/reports/<metric>")
@endpoint()
def get_report(metric: str):
    """One metric of the analysis for a period and filters (query parameters as on /dashboard)."""
    labels = analytics.Labels(db.session, api_locale(), _)
    f, result = analytics.report(db.session, api_user(), metric, request.args, labels)
    table = result.pop("table")
    return jsonify(metric=metric, **period_summary(f), data=result,
                   table={"columns": [_(c) for c in table["columns"]], "rows": table["rows"]})
