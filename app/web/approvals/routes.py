"""/approvals: everything awaiting a manager's or approver's decision, with the facts to
decide on; approve, reject with a mandatory reason (= return for rework), bulk approve of
routine items. Who decides is declared in the diagrams and decided by app.services.policy;
the kinds' presentation lives in app.services.approvals."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from markupsafe import Markup

from app.clock import clock
from app.data.queries.people import departments_by_id, user_names
from app.errors import AppError
from app.extensions import db, runtime
from app.i18n import N_
from app.services import approvals as approval_service
from app.services import tasks as task_service
from app.services.errors import Forbidden
from app.web.errors import rollback
from app.web.shared.display import Formatter, locale

bp = Blueprint("approvals", __name__, url_prefix="/approvals")

PAGE_LIMIT = 100
REQUEST_TYPES = {"replenish": N_("Replenish"), "exchange": N_("Exchange"), "return": N_("Return"), "none": N_("None")}


@bp.route("/")
@login_required
def index():
    if not approval_service.may_use(db.session, current_user):
        abort(403)
    kind = request.args.get("kind") or None
    if kind not in approval_service.KINDS:
        kind = None
    # the user object, not the request-local proxy: the policy reads it for every item
    found = approval_service.screen(db.session, runtime(), current_user._get_current_object(), kind,
                                    limit=PAGE_LIMIT)
    names = user_names(db.session, {uid for item in found.items for uid in item.submitters})
    kinds = [(k.key, _(k.label)) for k in found.kinds]
    loc = locale()
    departments = {d.code: d.name(loc) for d in departments_by_id(db.session).values()}
    # the items' helpers bound once to the language, translations, time zone and this instant
    fmt = Formatter(clock.now())
    return render_template("approvals/index.html", title=_("Approvals"), items=found.items, names=names,
                           kinds=kinds, kind=kind, request_types=REQUEST_TYPES,
                           endpoints=set(current_app.view_functions), fmt=fmt, _=fmt.template_gettext,
                           dept_label=lambda code: departments.get(str(code), code or "—"))


def _decide_one(task_id: str, decision: str, reason: str):
    return approval_service.decide(db.session, runtime(), current_user, task_id, decision, reason, locale(),
                                   default_reason=_("Approved"))


def _errors(errors: dict[str, list[str]]) -> str:
    return "; ".join(f"{field}: {', '.join(map(str, msgs)) if isinstance(msgs, list) else msgs}"
                     for field, msgs in (errors or {}).items())


@bp.errorhandler(Forbidden)
def _forbidden(exc: Forbidden):
    """A refused decision (not an approver, four-eyes) says why, with the way back to the list."""
    rollback()
    return render_template("approvals/forbidden.html", title=_("Approvals"), message=_(exc.message)), 403


@bp.route("/<task_id>/decide", methods=["POST"])
@login_required
def decide(task_id: str):
    """Approve or reject one item (other refusals: ``app/web/errors.py``)."""
    decision = request.form.get("decision", "")
    result = _decide_one(task_id, decision, request.form.get("reason", ""))
    if result.task is None:
        db.session.rollback()
        flash(_("The decision was not accepted: %(errors)s", errors=_errors(result.errors)), "danger")
        return redirect(url_for("approvals.index"))
    db.session.commit()
    task = result.task
    if decision == approval_service.APPROVE:
        flash(_("Approved: %(title)s (%(number)s).", title=task.title_en if locale() == "en" and task.title_en
                else task.title, number=task.case_number or "—"), "success")
    else:
        flash(_("Sent back for rework: %(number)s.", number=task.case_number or "—"), "info")
    return redirect(url_for("approvals.index"))


@bp.route("/bulk", methods=["POST"])
@login_required
def bulk():
    if not approval_service.may_use(db.session, current_user):
        abort(403)
    task_ids = list(dict.fromkeys(t for t in request.form.getlist("task_id") if t))[:100]
    if not task_ids:
        flash(_("Select at least one item."), "warning")
        return redirect(url_for("approvals.index"))
    for task_id in task_ids:
        ok, message = False, ""
        try:
            task = task_service.get_visible(db.session, current_user, task_id)
            kind = approval_service.kind_of(db.session, task)
            number = task.case_number or task_id[:8]
            if kind is None or not kind.routine:
                message = _("Only routine items can be approved in bulk; open this one.")
            else:
                result = _decide_one(task_id, approval_service.APPROVE, request.form.get("reason", ""))
                if result.task is None:
                    message = _("The decision was not accepted: %(errors)s", errors=_errors(result.errors))
                else:
                    ok, message = True, _("Approved.")
        except AppError as exc:
            number = task_id[:8]
            message = _(exc.message)
        if ok:
            db.session.commit()
        else:
            db.session.rollback()
        flash(Markup('<span data-testid="bulk-result" data-ok="{}" data-task-id="{}">{}: {}</span>').format(
            "true" if ok else "false", task_id, number, message), "success" if ok else "warning")
    return redirect(url_for("approvals.index"))
