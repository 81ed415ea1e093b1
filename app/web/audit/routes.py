"""The audit explorer: the whole trail filtered by date range, case, department, user and
action, newest first; exports (CSV, Excel, JSON) streamed with a progress display; the hash
chain's verification. Auditors and admins only (``policy.may_explore_audit``)."""

from __future__ import annotations

from flask import Blueprint, Response, abort, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.extensions import db
from app.i18n import N_
from app.services import accounts, audit_trail, policy
from app.services.audit_trail import FORMATS, AuditFilter
from app.services.errors import InvalidInput
from app.web.shared.display import AUDIT_ACTIONS as ACTIONS

bp = Blueprint("audit", __name__, url_prefix="/audit")

#: what verification can find (app.engine.audit_chain.Finding.kind)
FINDINGS = {
    "edited": N_("An event was edited"),
    "deleted": N_("Events were deleted"),
    "inserted": N_("An event was inserted"),
    "reordered": N_("Events were reordered"),
    "rewritten": N_("The chain was rewritten"),
    "truncated": N_("The end of the trail was cut off"),
    "unsealed": N_("An event outside the chain"),
}


@bp.before_request
@login_required
def require_auditor():
    if not policy.may_explore_audit(current_user):
        abort(403)


def _choices() -> dict:
    return {
        "actions": sorted(((key, _(label)) for key, label in ACTIONS.items()), key=lambda item: item[1]),
        "departments": accounts.departments(db.session),
        "users": accounts.users(db.session),
        "formats": list(FORMATS),
    }


@bp.route("/")
def index():
    error = None
    try:
        f = audit_trail.parse_filter(db.session, request.args)
    except InvalidInput as exc:
        f, error = AuditFilter(), _(exc.message)
    before = request.args.get("before", "")
    before_seq = int(before) if before.isascii() and before.isdigit() and len(before) < 19 else None
    result = audit_trail.page(db.session, current_user, f, before_seq)
    args = {k: v for k, v in request.args.items() if k != "before" and v}
    status = 400 if error else 200
    return render_template(
        "audit/index.html", title=_("Audit trail"), page=result, args=args, error=error,
        labels={k: _(v) for k, v in ACTIONS.items()}, **_choices()), status


@bp.route("/exports", methods=["POST"])
def start_export():
    f = audit_trail.parse_filter(db.session, request.form)
    export = audit_trail.start_export(db.session, current_user, f, request.form.get("format", ""))
    db.session.commit()
    return redirect(url_for("audit.export_page", export_id=export.id))


@bp.route("/exports/<int:export_id>")
def export_page(export_id: int):
    export = audit_trail.get_export(db.session, current_user, export_id)
    return render_template("audit/export.html", title=_("Audit trail export"), export=export,
                           filename=audit_trail.export_filename(export))


@bp.route("/exports/<int:export_id>/progress")
def export_progress(export_id: int):
    export = audit_trail.get_export(db.session, current_user, export_id)
    return jsonify(total=export.total, written=export.written, finished=export.finished_at is not None)


@bp.route("/exports/<int:export_id>/download")
def export_download(export_id: int):
    export = audit_trail.get_export(db.session, current_user, export_id)
    mimetype, _ext = FORMATS[export.format]
    return Response(audit_trail.stream_export(db.database, export), mimetype=mimetype.split(";")[0], headers={
        "Content-Disposition": f'attachment; filename="{audit_trail.export_filename(export)}"',
        "X-Audit-Chain-Head": f"seq={export.head_seq} hash={export.head_hash}",
    })


@bp.route("/chain", methods=["GET", "POST"])
def chain():
    """The chain head, and on request its verification (optionally against published heads)."""
    result, published = None, ""
    if request.method == "POST":
        published = (request.form.get("published") or "")[:100_000]
        result = audit_trail.verify_chain(db.database, audit_trail.parse_published(published))
    return render_template("audit/chain.html", title=_("Audit chain"), head=audit_trail.chain_head(db.session),
                           result=result, published=published, kinds={k: _(v) for k, v in FINDINGS.items()})
