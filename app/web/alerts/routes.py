"""Alerts on repeated problems (``/alerts``): the clusters with their cases for Quality, who
acknowledge them and link them to a case; the General Manager, admins and auditors read them.
Also the case page's panel of earlier related cases (a template global)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.data.models import AlertDimension, AlertStatus, Case
from app.data.queries import alerts as queries
from app.data.queries.paging import page_of
from app.data.queries.people import user_names
from app.extensions import db
from app.i18n import N_
from app.services import alerts as service
from app.services import policy
from app.services.errors import InvalidInput

bp = Blueprint("alerts", __name__, url_prefix="/alerts")
PAGE_SIZE = 50

DIMENSION_LABELS = {
    AlertDimension.MODEL: N_("Product model"),
    AlertDimension.BATCH: N_("Batch"),
    AlertDimension.SERIAL: N_("Serial number"),
    AlertDimension.SERIAL_PREFIX: N_("Serial prefix"),
}
STATUS_LABELS = {AlertStatus.OPEN: N_("Not acknowledged"), AlertStatus.ACKNOWLEDGED: N_("Acknowledged")}


@bp.app_template_global()
def alert_dimension_label(dimension: str) -> str:
    return _(DIMENSION_LABELS[dimension]) if dimension in DIMENSION_LABELS else dimension


@bp.app_template_global()
def alert_status_label(status: str) -> str:
    return _(STATUS_LABELS[status]) if status in STATUS_LABELS else status


@bp.app_template_global()
def earlier_related_cases(case: Case) -> dict:
    """The case page's panel: earlier cases matching this one (those the user may see), and the
    alerts it belongs to (for those who may see alerts)."""
    groups = service.related(db.session, case)
    if not policy.sees_all_cases(current_user):
        ids = {c.id for group in groups for c in group["cases"]}
        visible = set(db.session.scalars(queries.visible_to_departments(ids, current_user.department_ids)))
        groups = [{**g, "cases": [c for c in g["cases"] if c.id in visible]} for g in groups]
        groups = [g for g in groups if g["cases"]]
    clusters = queries.clusters_of_case(db.session, case.id) if policy.may_view_alerts(current_user) else []
    return {"groups": groups, "clusters": clusters}


@bp.before_request
@login_required
def require_reader():
    if not policy.may_view_alerts(current_user):
        abort(403)


def _choice(name: str, allowed: tuple[str, ...]) -> str | None:
    value = request.args.get(name, "").strip()
    return value if value in allowed else None


@bp.route("/")
def index():
    status = _choice("status", AlertStatus.ALL)
    dimension = _choice("dimension", AlertDimension.ALL)
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    rows, total = page_of(db.session, queries.clusters_query(status, dimension), page, PAGE_SIZE)
    refs = queries.case_refs(db.session, {i for r in rows for i in (r.first_case_id, r.last_case_id,
                                                                    r.linked_case_id)})
    return render_template(
        "alerts/index.html", title=_("Alerts"), alerts=rows, total=total, page=page,
        pages=max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1), status=status or "", dimension=dimension or "",
        statuses=AlertStatus.ALL, dimensions=AlertDimension.ALL, refs=refs,
    )


def _show(alert_id: int, error: str | None = None, field: str | None = None, status: int = 200):
    cluster = service.get_cluster(db.session, alert_id)
    refs = queries.case_refs(db.session, [cluster.linked_case_id])
    return render_template(
        "alerts/show.html", title=_("Alert"), alert=cluster, cases=queries.cluster_cases(db.session, cluster.id),
        linked=refs.get(cluster.linked_case_id or 0), may_handle=policy.may_handle_alerts(current_user),
        acknowledged_by=user_names(db.session, {i for i in (cluster.acknowledged_by_id,) if i is not None}),
        error=error, error_field=field, typed=request.form,
    ), status


@bp.route("/<int:alert_id>")
def show(alert_id: int):
    return _show(alert_id)


@bp.route("/<int:alert_id>/acknowledge", methods=["POST"])
def acknowledge(alert_id: int):
    try:
        service.acknowledge(db.session, current_user, alert_id, request.form.get("note", ""))
    except InvalidInput as exc:
        db.session.rollback()
        return _show(alert_id, _(exc.message), "note", 422)
    db.session.commit()
    flash(_("Alert acknowledged."), "success")
    return redirect(url_for("alerts.show", alert_id=alert_id))


@bp.route("/<int:alert_id>/link", methods=["POST"])
def link(alert_id: int):
    try:
        service.link_case(db.session, current_user, alert_id, request.form.get("case_number", ""))
    except InvalidInput as exc:
        db.session.rollback()
        return _show(alert_id, _(exc.message), "case_number", 422)
    db.session.commit()
    flash(_("Link saved."), "success")
    return redirect(url_for("alerts.show", alert_id=alert_id))
