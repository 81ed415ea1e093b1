"""Process definitions for designers' tooling and CI of diagrams: list, upload (validate and
deploy), and read an instance's status; and starting a process by hand, which its diagram
allows or not (``manualStart``, :mod:`app.services.starts`)."""

from __future__ import annotations

import json
from typing import Any

from flask import jsonify, request, url_for
from flask_babel import gettext as _
from sqlalchemy import bindparam, select

from app.api import bp
from app.api.auth import api_locale, api_user, endpoint, int_id, iso, json_body, validation_error
from app.api.errors import ApiError
from app.api.tasks import instance_open_tasks
from app.data.models import ProcessDefinition, ProcessInstance
from app.engine.errors import NotFound
from app.engine.limits import translate_incident
from app.extensions import db, lateness_basis, runtime
from app.i18n import N_
from app.services import designer as service
from app.services import policy, starts


def _require(allowed: bool) -> None:
    policy.require(allowed, N_("Only process designers and administrators may do this."))


def definition_item(row: ProcessDefinition) -> dict[str, Any]:
    return {"id": row.id, "key": row.key, "version": row.version, "name": row.name,
            "deployed_at": iso(row.deployed_at), "source_name": row.source_name}


@bp.get("/process-definitions")
@endpoint()
def list_definitions():
    """Every process key with its versions (newest first) and its live version."""
    _require(policy.may_design(api_user()))
    items = []
    for info in service.overview(db.session):
        items.append({
            "key": info.key,
            "name": info.name,
            "live_version": info.live.version,
            "versions": [{**definition_item(v.definition), "running_instances": v.running,
                          "live": v.live} for v in info.versions],
        })
    return jsonify(items=items)


def _upload() -> tuple[str, str]:
    """``(filename, xml)`` from a multipart file or a JSON body; 413 when too large."""
    limit = service.MAX_DIAGRAM_BYTES
    too_large = ApiError(413, _("The diagram is larger than %(mb)s MB.", mb=limit // (1024 * 1024)))
    if request.content_length is not None and request.content_length > limit * 2:
        raise too_large
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise ApiError(400, _("Send the diagram as the multipart field \"file\", or JSON {\"filename\", \"xml\"}."))
        data = upload.stream.read(limit + 1)
        if len(data) > limit:
            raise too_large
        try:
            return upload.filename or "upload.bpmn", data.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(422, _("The file is not UTF-8 text."), fields={"file": [_("The file is not UTF-8 text.")]}) \
                from None
    raw = request.get_data(cache=True)
    if len(raw) > limit * 2:
        raise too_large
    try:
        body = json.loads(raw.decode("utf-8")) if raw.strip() else None
    except (ValueError, RecursionError):
        raise ApiError(400, _("The request body is not valid JSON.")) from None
    if not isinstance(body, dict):
        raise ApiError(400, _("Send the diagram as the multipart field \"file\", or JSON {\"filename\", \"xml\"}."))
    xml, filename = body.get("xml"), body.get("filename", "upload.bpmn")
    if not isinstance(xml, str) or not isinstance(filename, str):
        raise ApiError(422, _("The data is not valid."),
                       fields={"xml": [_("A non-empty string is required.")]} if not isinstance(xml, str) else
                       {"filename": [_("A non-empty string is required.")]})
    if len(xml.encode("utf-8")) > limit:
        raise too_large
    return filename, xml


@bp.post("/process-definitions")
@endpoint()
def upload_definition():
    """Validate and deploy a .bpmn file: 201 with new versions, 200 for identical content, 422 with problems,
    409 when a process id is the key of an unrelated deployed process (``?confirm=true`` deploys anyway)."""
    user = api_user()
    _require(policy.may_design(user))
    filename, xml = _upload()
    confirm = request.args.get("confirm", "").lower() in ("1", "true", "yes")
    try:
        result = service.deploy_diagram(db.session, filename, xml, user, confirm=confirm)
    except service.DiagramTooLarge:
        raise ApiError(413, _("The diagram is larger than %(mb)s MB.",
                              mb=service.MAX_DIAGRAM_BYTES // (1024 * 1024))) from None
    except service.ConfirmationRequired as exc:
        raise ApiError(409, _(exc.message), code=exc.code, processes=exc.details["processes"],
                       hint=_("Send the upload again with ?confirm=true to deploy it anyway.")) from None
    db.session.commit()
    created = bool(result.created)
    rows = result.created if created else result.definitions
    response = jsonify(created=created, definitions=[definition_item(d) for d in rows])
    response.status_code = 201 if created else 200
    return response


@bp.post("/process-definitions/<key>/start")
@endpoint()
def start_instance(key: str):
    """Start the live version of a process by hand, if its diagram lets the caller (``manualStart``),
    with JSON data validated by its start form: 201, or 200 with the instance an idempotent start found."""
    user = api_user()
    starts.authorize(db.session, user, key)
    body = json_body()
    data = body.get("data", body) if set(body) <= {"data"} else body
    if not isinstance(data, dict):
        raise ApiError(422, _("The data is not valid."), fields={"data": [_("The data must be a JSON object.")]})
    result = starts.start_by_hand(db.session, runtime(), user, key, data=data, locale=api_locale(),
                                  lateness_basis=lateness_basis())
    if not result.ok or result.instance is None:
        raise validation_error(result.errors)
    instance = result.instance
    locale = api_locale()
    # before the commit: the rows as the start left them, with the departments it read
    open_tasks = instance_open_tasks(instance.id, locale, result.open_tasks)
    db.session.commit()
    response = jsonify(instance_id=instance.id, process_key=instance.process_key,
                       version=instance.definition.version, status=instance.status, created=result.created,
                       open_tasks=open_tasks)
    response.status_code = 201 if result.created else 200
    response.headers["Location"] = url_for("api.get_instance", instance_id=instance.id)
    return response


#: The instance read (``GET /instances/<id>``): the columns the answer shows and the
#: definition's version as one row, built once with a bound id — not the ORM objects, which
#: would bring the instance's stored state and the diagram's XML for nothing. Then its open
#: tasks (:func:`app.api.tasks.instance_open_tasks`).
_INSTANCE = (
    select(ProcessInstance.id, ProcessInstance.process_key, ProcessDefinition.version,
           ProcessInstance.definition_id, ProcessInstance.case_id, ProcessInstance.status,
           ProcessInstance.started_at, ProcessInstance.completed_at, ProcessInstance.next_due_at,
           ProcessInstance.incident_message)
    .join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
    .where(ProcessInstance.id == bindparam("instance_id"))
)


@bp.get("/instances/<int:instance_id>")
@endpoint()
def get_instance(instance_id: int):
    """Status (running, completed, incident, cancelled), open tasks, next timer due time, incident."""
    _require(policy.may_view_instances(api_user()))
    number = int_id(instance_id)
    instance = db.session.execute(_INSTANCE, {"instance_id": number}).first() if number else None
    if instance is None:
        raise NotFound(N_("The process instance does not exist."))
    locale = api_locale()
    open_tasks = instance_open_tasks(instance.id, locale)
    return jsonify(
        id=instance.id,
        process_key=instance.process_key,
        version=instance.version,
        definition_id=instance.definition_id,
        case_id=instance.case_id,
        status=instance.status,
        started_at=iso(instance.started_at),
        completed_at=iso(instance.completed_at),
        next_timer_due_at=iso(instance.next_due_at),
        incident_message=translate_incident(instance.incident_message, _) or None,
        open_tasks=open_tasks,
    )
