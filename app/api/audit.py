"""The audit trail of a case, as JSON or as a CSV download."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from flask import Response, jsonify, request
from flask_babel import gettext as _

from app.api import bp
from app.api.auth import endpoint, int_id, iso
from app.api.cases import visible_case
from app.api.errors import ApiError
from app.data.models import AuditEvent
from app.data.queries.history import audit_events
from app.extensions import db

CSV_FIELDS = ("at", "actor", "action", "element", "task_id", "message", "data_before", "data_after")
#: a cell starting with one of these is read as a formula by spreadsheets
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def event_item(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "at": iso(event.at),
        "actor": event.actor_label,
        "actor_id": event.actor_id,
        "action": event.action,
        "element": event.element,
        "task_id": event.task_id,
        "message": event.message,
        "data_before": event.data_before,
        "data_after": event.data_after,
    }


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def _json_text(value: Any) -> str:
    return "" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def events_csv(events: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_FIELDS)
    for event in events:
        row = {**event, "data_before": _json_text(event["data_before"]), "data_after": _json_text(event["data_after"])}
        writer.writerow([_cell(row[name]) for name in CSV_FIELDS])
    return out.getvalue()


@bp.get("/audit")
@endpoint()
def audit_trail():
    """The audit events of a case (?case=<id>&format=json|csv)."""
    raw_case = request.args.get("case")
    if raw_case is None:
        raise ApiError(400, _("The case parameter is required."))
    case_id = int_id(raw_case)
    if case_id is None:
        raise ApiError(400, _("The case parameter must be a case id."))
    fmt = request.args.get("format", "json")
    if fmt not in ("json", "csv"):
        raise ApiError(400, _("Unknown format; use json or csv."))
    case = visible_case(case_id)
    events = [event_item(e) for e in audit_events(db.session, case_id=case.id)]
    if fmt == "json":
        return jsonify(case_id=case.id, case_number=case.number, events=events)
    return Response(
        "\ufeff" + events_csv(events),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="audit-{case.number}.csv"'},
    )
