"""Weekly assessment results: the list of weekly_assessment instances, one assessment's computed
figures per department and case (each linking back to its case), and its Excel export.

Who may see them (``app.services.policy``): managers, admins, auditors and members of Quality or
Finance see every assessment; department heads see the assessments that concern their departments,
limited to their own rows. The Excel export is for Finance, Quality, managers, admins and auditors.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.data.models import ProcessInstance
from app.data.queries import case_ids_by_number, departments_by_id, process_instances
from app.errors import AppError
from app.extensions import db, runtime
from app.services import policy
from app.services.assessment_export import build_workbook, decision_label, money, status_label
from app.web.tasks.display import install, locale

bp = Blueprint("assessment", __name__, url_prefix="/assessments")
install(bp)

PROCESS_KEY = "weekly_assessment"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _department_names() -> dict[str, str]:
    loc = locale()
    return {d.code: d.name(loc) for d in departments_by_id(db.session).values()}


def _data(instance: ProcessInstance) -> dict[str, Any]:
    try:
        return runtime().instance_data(db.session, instance.id)
    except AppError:
        return {}


def _departments_of(data: dict[str, Any]) -> set[str]:
    rows = data.get("assessment_items") or data.get("rows") or []
    return {str(r.get("department")) for r in rows if isinstance(r, dict) and r.get("department")}


def _scope(data: dict[str, Any]) -> set[str] | None:
    """The departments whose rows the current user may see (None: all); aborts with 403."""
    scope = policy.assessment_scope(current_user, _departments_of(data))
    if scope is not None and not scope:
        abort(403)
    return scope


def _load(instance_id: int) -> tuple[ProcessInstance, dict[str, Any]]:
    instance = db.session.get(ProcessInstance, instance_id)
    if instance is None or instance.process_key != PROCESS_KEY:
        abort(404)
    return instance, _data(instance)


def limited(data: dict[str, Any], departments: set[str] | None) -> dict[str, Any]:
    """The assessment data restricted to ``departments`` (None: unchanged)."""
    if departments is None:
        return data
    out = dict(data)
    out["assessment_items"] = [i for i in data.get("assessment_items") or [] if i.get("department") in departments]
    out["assessment_totals"] = {k: v for k, v in (data.get("assessment_totals") or {}).items() if k in departments}
    out["breakdowns"] = [b for b in data.get("breakdowns") or [] if b.get("department") in departments]
    return out


def _case_links(data: dict[str, Any], external: bool = False) -> dict[str, str]:
    numbers = {str(i.get("case_no")) for i in data.get("assessment_items") or [] if i.get("case_no")}
    numbers |= {str(o.get("case_no")) for b in data.get("breakdowns") or [] for o in b.get("operators") or []
                if o.get("case_no")}
    return {no: url_for("cases.show", case_id=case_id, _external=external)
            for no, case_id in case_ids_by_number(db.session, numbers).items()}


@bp.route("/")
@login_required
def index():
    if not policy.may_read_assessments(current_user):
        abort(403)
    rows = []
    for instance in process_instances(db.session, PROCESS_KEY):
        data = _data(instance)
        if policy.assessment_scope(current_user, _departments_of(data)) == set():
            continue
        rows.append({"instance": instance, "week_start": data.get("week_start"), "week_end": data.get("week_end"),
                     "status": status_label(data.get("assessment_status") or "open"),
                     "computed": bool(data.get("assessment_items"))})
    return render_template("assessment/index.html", title=_("Weekly assessments"), rows=rows)


@bp.route("/<int:instance_id>")
@login_required
def show(instance_id: int):
    instance, data = _load(instance_id)
    view = limited(data, _scope(data))
    names = _department_names()
    return render_template(
        "assessment/show.html", title=_("Weekly assessment"), instance=instance, data=view, names=names,
        links=_case_links(view), money=money, decision_label=decision_label,
        status=status_label(data.get("assessment_status") or "open"),
        may_export=policy.may_export_assessment(current_user),
        limited_to=sorted(names.get(c, c) for c in _scope(data) or ()),
    )


@bp.route("/<int:instance_id>/export.xlsx")
@login_required
def export(instance_id: int):
    instance, data = _load(instance_id)
    if not policy.may_export_assessment(current_user):
        abort(403)
    names = _department_names()
    content = build_workbook(data, translate=_, department_name=lambda code: names.get(code, code),
                             case_links=_case_links(data, external=True))
    filename = f"assessment-{data.get('week_start') or instance.id}.xlsx"
    return Response(content, mimetype=XLSX, headers={"Content-Disposition": f'attachment; filename="{filename}"'})
