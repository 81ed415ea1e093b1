"""Weekly assessment results: the list of weekly_assessment instances, one assessment's computed
figures per department and case (each linking back to its case), and its Excel export; and
starting a week's assessment by hand (whom the diagram names: the head of Quality, admins).

Who may see them (``app.services.policy``): managers, admins, auditors and members of Quality or
Finance see every assessment; department heads see the assessments that concern their departments,
limited to their own rows. The Excel export is for Finance, Quality, managers, admins and auditors.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.clock import clock
from app.data.models import InstanceStatus, ProcessInstance
from app.data.queries.cases import case_ids_by_number
from app.data.queries.people import departments_by_id
from app.errors import AppError
from app.extensions import db, lateness_basis, runtime
from app.services import assessment_weeks, audit_trail, policy, starts, weekly
from app.services.assessment_export import (
    CHARGES,
    DAY_BASES,
    RETURN_STEPS,
    SPLIT_BASES,
    build_workbook,
    decision_label,
    label,
    money,
    status_label,
)
from app.web.shared.display import locale
from app.web.shared.forms import build_form

bp = Blueprint("assessment", __name__, url_prefix="/assessments")

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


def _scope(data: dict[str, Any]) -> set[str] | None:
    """The departments whose rows the current user may see (None: all); aborts with 403."""
    scope = policy.assessment_scope(current_user, assessment_weeks.departments_of(data))
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
    out["lateness"] = [c for c in data.get("lateness") or [] if c.get("department") in departments]
    return out


def _status(instance: ProcessInstance, data: dict[str, Any]) -> str:
    if instance.status == InstanceStatus.INCIDENT:
        return status_label("incident")
    return status_label(data.get("assessment_status") or "open")  # as assessment_weeks.listing says


def charges_by_line(data: dict[str, Any]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """The charged tasks behind each (case number, department) line: the days and their dates."""
    found: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for charge in data.get("lateness") or []:
        if isinstance(charge, dict):
            found.setdefault((str(charge.get("case_no") or ""), str(charge.get("department"))), []).append(charge)
    return found


def _case_links(data: dict[str, Any], external: bool = False) -> dict[str, str]:
    numbers = {str(i.get("case_no")) for i in data.get("assessment_items") or [] if i.get("case_no")}
    numbers |= {str(o.get("case_no")) for b in data.get("breakdowns") or [] for o in b.get("operators") or []
                if o.get("case_no")}
    numbers |= {str(c.get("case_no")) for c in data.get("lateness") or [] if c.get("case_no")}
    return {no: url_for("cases.show", case_id=case_id, _external=external)
            for no, case_id in case_ids_by_number(db.session, numbers).items()}


def _index(start_form: Any = None, invalid: bool = False) -> str:
    """The list, with the start form when the user may start a week (prefilled: the previous week)."""
    rows = [{"instance": week.instance, "week_start": week.week_start, "week_end": week.week_end,
             "status": status_label(week.status), "computed": week.computed}
            for week in assessment_weeks.listing(db.session, runtime())
            if policy.assessment_scope(current_user, set(week.departments)) != set()]
    plan = starts.plan_for(db.session, current_user, PROCESS_KEY)
    if plan is not None and start_form is None:
        start_form = build_form(plan.form, {"week": weekly.assessed_week(clock.now())[2]})
    return render_template("assessment/index.html", title=_("Weekly assessments"), rows=rows,
                           start_form=start_form if plan else None, start_definition=plan.form if plan else None,
                           start_invalid=invalid)


@bp.route("/")
@login_required
def index():
    if not policy.may_read_assessments(current_user):
        abort(403)
    return _index()


@bp.post("/start")
@login_required
def start():
    """Start the assessment of the week the form names (once per ISO week; the rows are computed)."""
    result = starts.start_by_hand(db.session, runtime(), current_user, PROCESS_KEY, formdata=request.form,
                                  locale=locale(), lateness_basis=lateness_basis())
    if not result.ok or result.instance is None:
        db.session.rollback()
        for name, messages in result.errors.items():
            if result.form is not None and name in result.form and not result.form[name].errors:
                result.form[name].errors = [_(message) for message in messages]
        return _index(result.form, invalid=True), 422
    db.session.commit()
    week = weekly.week_of(result.instance)
    if result.created:
        flash(_("The assessment of week %(week)s has been started.", week=week), "success")
    else:
        flash(_("The assessment of week %(week)s was started already; here it is.", week=week), "info")
    return redirect(url_for("assessment.show", instance_id=result.instance.id))


@bp.route("/<int:instance_id>")
@login_required
def show(instance_id: int):
    instance, data = _load(instance_id)
    view = limited(data, _scope(data))
    names = _department_names()
    return render_template(
        "assessment/show.html", title=_("Weekly assessment"), instance=instance, data=view, names=names,
        links=_case_links(view), money=money, decision_label=decision_label, charges=charges_by_line(view),
        english=locale() == "en", label=label, split_bases=SPLIT_BASES, charge_kinds=CHARGES, day_bases=DAY_BASES,
        return_steps=RETURN_STEPS,
        status=_status(instance, data), may_export=policy.may_export_assessment(current_user),
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
    audit_trail.record_export(db.session, current_user, "assessment_exported", filename, instance=instance,
                              after={"week_start": data.get("week_start"), "format": "xlsx"})
    db.session.commit()
    return Response(content, mimetype=XLSX, headers={"Content-Disposition": f'attachment; filename="{filename}"'})
