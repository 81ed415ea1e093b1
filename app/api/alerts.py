"""Alerts on repeated problems: the clusters of matching cases, with filters and paging."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from flask_babel import gettext as _

from app.api import bp
from app.api.auth import api_user, endpoint, iso, page_args
from app.api.errors import ApiError
from app.data.models import AlertDimension, AlertStatus, RepeatCluster
from app.data.queries import alerts as queries
from app.data.queries.alerts import CaseRef
from app.data.queries.paging import count_rows
from app.extensions import db
from app.i18n import N_
from app.services import policy

DEFAULT_LIMIT, MAX_LIMIT = 50, 200


def _ref(ref: CaseRef | None) -> dict[str, Any] | None:
    return {"id": ref.id, "number": ref.number} if ref else None


def alert_item(cluster: RepeatCluster, refs: dict[int, CaseRef], case_numbers: list[str]) -> dict[str, Any]:
    return {
        "id": cluster.id,
        "dimension": cluster.dimension,
        "key": cluster.key,
        "status": cluster.status,
        "case_count": cluster.case_count,
        "threshold": cluster.threshold,
        "window_days": cluster.window_days,
        "first_case": _ref(refs.get(cluster.first_case_id or 0)),
        "last_case": _ref(refs.get(cluster.last_case_id or 0)),
        "linked_case": _ref(refs.get(cluster.linked_case_id or 0)),
        "first_at": iso(cluster.first_at),
        "last_at": iso(cluster.last_at),
        "alerted_at": iso(cluster.alerted_at),
        "acknowledged_at": iso(cluster.acknowledged_at),
        "note": cluster.note,
        "cases": case_numbers,
    }


def _choice(name: str, allowed: tuple[str, ...]) -> str | None:
    value = request.args.get(name, "").strip()
    if value and value not in allowed:
        raise ApiError(400, _("%(name)s must be one of: %(values)s.", name=name, values=", ".join(allowed)))
    return value or None


@bp.get("/alerts")
@endpoint()
def list_alerts():
    """Alerts on repeated problems, the latest activity first: filters ``status`` and
    ``dimension``; ``limit``/``offset`` page. Quality and the overseers."""
    user = api_user()
    policy.require(policy.may_view_alerts(user), N_("You may not see the alerts."))
    limit, offset = page_args(DEFAULT_LIMIT, MAX_LIMIT)
    stmt = queries.clusters_query(_choice("status", AlertStatus.ALL), _choice("dimension", AlertDimension.ALL))
    total = count_rows(db.session, stmt)
    rows = db.session.scalars(stmt.limit(limit).offset(offset)).all()
    refs = queries.case_refs(db.session, {i for r in rows for i in (r.first_case_id, r.last_case_id,
                                                                    r.linked_case_id)})
    numbers = queries.cluster_case_numbers(db.session, [r.id for r in rows])
    items = [alert_item(r, refs, numbers[r.id]) for r in rows]
    return jsonify(total=total, limit=limit, offset=offset, alerts=items)
