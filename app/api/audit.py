"""The audit trail over the API: one case's trail (for whoever may see the case), the whole
trail filtered (auditors and admins), each as JSON, CSV or Excel streamed in constant memory
and carrying the chain head it was taken at; and an export's progress."""

from __future__ import annotations

from flask import Response, jsonify, request
from flask_babel import gettext as _

from app.api import bp
from app.api.auth import api_user, endpoint, int_id, iso
from app.api.cases import visible_case
from app.api.errors import ApiError
from app.data.models import AuditExport
from app.extensions import db
from app.services import audit_trail as trail
from app.services.audit_trail import FORMATS, AuditFilter


def _format() -> str:
    fmt = request.args.get("format", "json")
    if fmt not in FORMATS:
        raise ApiError(400, _("Unknown format; use json, csv or xlsx."))
    return fmt


def _streamed(export: AuditExport, stem: str, extra: dict | None = None) -> Response:
    mimetype, _ext = FORMATS[export.format]
    headers = {
        "X-Audit-Chain-Head": f"seq={export.head_seq} hash={export.head_hash}",
        "X-Audit-Export-Id": str(export.id),
        "X-Audit-Event-Count": str(export.total),
    }
    if export.format != "json":
        headers["Content-Disposition"] = f'attachment; filename="{trail.export_filename(export, stem)}"'
    body = trail.stream_export(db.database, export, extra)
    return Response(body, mimetype=mimetype.split(";")[0], headers=headers)


@bp.get("/audit")
@endpoint()
def audit_trail():
    """The audit events of a case (?case=<id>&format=json|csv|xlsx), for whoever may see it."""
    raw_case = request.args.get("case")
    if raw_case is None:
        raise ApiError(400, _("The case parameter is required."))
    case_id = int_id(raw_case)
    if case_id is None:
        raise ApiError(400, _("The case parameter must be a case id."))
    fmt = _format()
    case = visible_case(case_id)
    export = trail.start_export(db.session, api_user(), AuditFilter(case_id=case.id), fmt, case=case)
    db.session.commit()
    return _streamed(export, f"audit-{case.number}", {"case_id": case.id, "case_number": case.number})


@bp.get("/audit/events")
@endpoint()
def audit_events():
    """The whole audit trail, filtered (from, to, case, department, user, action), for auditors."""
    fmt = _format()
    f = trail.parse_filter(db.session, request.args)
    export = trail.start_export(db.session, api_user(), f, fmt)
    db.session.commit()
    return _streamed(export, "audit")


@bp.get("/audit/exports/<int:export_id>")
@endpoint()
def audit_export_progress(export_id: int):
    """How far an export has got (written of total events) and the chain head it was taken at."""
    export = trail.get_export(db.session, api_user(), export_id)
    return jsonify(id=export.id, format=export.format, filters=export.filters, total=export.total,
                   written=export.written, finished=export.finished_at is not None,
                   finished_at=iso(export.finished_at), requested_at=iso(export.requested_at),
                   chain_head={"seq": export.head_seq, "hash": export.head_hash})
