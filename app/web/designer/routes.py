"""The process designer: definitions and versions, the BPMN modeler, forms with a live preview,
validation and deploy, version diffs, instance migration, and the instance viewer.

Editing, deploying and migrating are for process designers and admins; the instance viewer is
also open to managers and auditors. Every route checks the role on the server (403 otherwise).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from itsdangerous import BadSignature, URLSafeSerializer

from app.engine.errors import DefinitionError, NotFound, Problem
from app.engine.migration import MigrationRefused
from app.errors import AppError
from app.extensions import db, runtime
from app.formkit.build import form_class
from app.formkit.definition import validate_definition
from app.i18n import N_
from app.services import designer as service
from app.services import policy, test_run
from app.services.approvals import KINDS
from app.services.choices import DatabaseChoices
from app.web.designer.forms import STARTER_FORM, UploadForm, starter_diagram
from app.web.designer.lint import lint_messages
from app.web.shared.display import form_title, locale, readable_lanes

bp = Blueprint("designer", __name__, url_prefix="/designer")

VIEWER_ENDPOINTS = {"designer.instance"}


@bp.before_request
@login_required
def require_role():
    """Designers and admins only; the instance viewer also for managers and auditors."""
    if request.endpoint in VIEWER_ENDPOINTS:
        if not policy.may_view_instances(current_user):
            abort(403)
    elif not policy.may_design(current_user):
        abort(403)


def problem_dicts(problems: list[Problem]) -> list[dict[str, Any]]:
    """Problems for JSON and templates, in the user's language."""
    return [{**p.as_dict(_), "element_id": p.element_id, "text": p.describe(_)} for p in problems]


def _too_large() -> Response:
    limit_mb = service.MAX_DIAGRAM_BYTES // (1024 * 1024)
    response = jsonify(error="Payload Too Large", message=_("The diagram is larger than %(mb)s MB.", mb=limit_mb))
    response.status_code = 413
    return response


def _diagram_body() -> tuple[str, str]:
    """``(filename, xml)`` from a JSON body; 413 when too large, 400 when malformed."""
    if request.content_length is not None and request.content_length > service.MAX_DIAGRAM_BYTES * 2:
        abort(_too_large())
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("xml"), str):
        abort(400)
    filename = body.get("filename")
    return (filename if isinstance(filename, str) else "diagram.bpmn"), body["xml"]


# ---------------------------------------------------------------------------- overview and upload


@bp.route("/")
def index():
    return render_template(
        "designer/index.html", title=_("Process designer"), processes=service.overview(db.session),
        forms=service.forms_overview(db.session), upload=UploadForm(), problems=None,
    )


@bp.route("/upload", methods=["POST"])
def upload():
    """Upload a .bpmn file: validate and deploy; problems are listed with their elements."""
    form = UploadForm()
    problems: list[Problem] | None = None
    confirm: service.ConfirmationRequired | None = None
    status = 200
    if form.validate_on_submit():
        data = form.file.data.read(service.MAX_DIAGRAM_BYTES + 1)
        if len(data) > service.MAX_DIAGRAM_BYTES:
            abort(413)
        try:
            xml = data.decode("utf-8")
        except UnicodeDecodeError:
            problems, status = [Problem(_("The file is not UTF-8 text."), file_name=form.file.data.filename)], 422
        else:
            try:
                result = service.deploy_diagram(db.session, form.file.data.filename or "upload.bpmn", xml,
                                                current_user, confirm=form.confirm.data)
            except DefinitionError as exc:
                db.session.rollback()
                problems, status = exc.problems, 422
            except service.ConfirmationRequired as exc:
                db.session.rollback()
                confirm, status = exc, 409
            except service.DiagramTooLarge:
                abort(413)
            else:
                db.session.commit()
                _flash_deployed(result)
                return redirect(url_for("designer.index"))
    else:
        status = 400
    return render_template(
        "designer/index.html", title=_("Process designer"), processes=service.overview(db.session),
        forms=service.forms_overview(db.session), upload=form,
        problems=problem_dicts(problems) if problems else None, confirm=confirm,
    ), status


def _flash_deployed(result) -> None:
    if result.created:
        names = ", ".join(f"{d.key} v{d.version}" for d in result.created)
        flash(_("Deployed %(names)s.", names=names), "success")
    else:
        names = ", ".join(f"{d.key} v{d.version}" for d in result.definitions)
        flash(_("Nothing changed: %(names)s is already deployed.", names=names), "info")


# ---------------------------------------------------------------------------- modeler


def _modeler(xml: str, filename: str, definition=None):
    forms = service.forms_overview(db.session)
    config = {
        "xml": xml,
        "filename": filename,
        "definition_id": definition.id if definition else None,
        "forms": [f.key for f in forms],
        "form_titles": {f.key: form_title(f.content) for f in forms},
        "departments": service.department_codes(),
        "approvals": sorted(KINDS),
        "department_names": service.department_names(db.session),
        "processes": [info.key for info in service.overview(db.session)],
        "urls": {
            "validate": url_for("designer.validate"),
            "deploy": url_for("designer.deploy_json"),
            "test_run": url_for("designer.test_run_start"),
            "test_run_complete": url_for("designer.test_run_complete"),
            "test_run_timers": url_for("designer.test_run_timers"),
            "index": url_for("designer.index"),
        },
    }
    title = f"{definition.key} v{definition.version}" if definition else _("New diagram")
    return render_template("designer/modeler.html", title=title, config=config, definition=definition,
                           lint_messages=lint_messages())


@bp.route("/modeler")
def new_diagram():
    return _modeler(starter_diagram(), "new_process.bpmn")


@bp.route("/definitions/<int:definition_id>/modeler")
def modeler(definition_id: int):
    definition = _definition(definition_id)
    return _modeler(definition.bpmn_xml, definition.source_name or f"{definition.key}.bpmn", definition)


@bp.route("/definitions/<int:definition_id>.bpmn")
def download(definition_id: int):
    definition = _definition(definition_id)
    name = f"{definition.key}_v{definition.version}.bpmn"
    return Response(definition.bpmn_xml, mimetype="application/xml",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.route("/validate", methods=["POST"])
def validate():
    """Validate the modeler's diagram without storing it: the problems, each naming its element."""
    filename, xml = _diagram_body()
    try:
        problems = service.validate_diagram(db.session, filename, xml)
    except service.DiagramTooLarge:
        return _too_large()
    return jsonify(ok=not problems, problems=problem_dicts(problems))


@bp.route("/deploy", methods=["POST"])
def deploy_json():
    """Deploy the modeler's diagram: 201 new version(s), 200 unchanged, 422 with the problems, 409 when
    it would become the next version of an unrelated process (``"confirm": true`` deploys anyway)."""
    filename, xml = _diagram_body()
    confirm = bool((request.get_json(silent=True) or {}).get("confirm"))
    try:
        result = service.deploy_diagram(db.session, filename, xml, current_user, confirm=confirm)
    except service.DiagramTooLarge:
        return _too_large()
    except service.ConfirmationRequired as exc:
        db.session.rollback()
        response = jsonify(ok=False, confirm=True, message=_(exc.message), processes=exc.details["processes"])
        response.status_code = 409
        return response
    except DefinitionError as exc:
        db.session.rollback()
        response = jsonify(ok=False, problems=problem_dicts(exc.problems),
                           message=_("The diagram has problems; nothing was deployed."))
        response.status_code = 422
        return response
    db.session.commit()
    created = bool(result.created)
    rows = result.created or result.definitions
    response = jsonify(
        ok=True, created=created,
        definitions=[{"id": d.id, "key": d.key, "version": d.version,
                      "url": url_for("designer.modeler", definition_id=d.id)} for d in rows],
        message=(_("Deployed %(names)s.", names=", ".join(f"{d.key} v{d.version}" for d in rows)) if created
                 else _("Nothing changed: %(names)s is already deployed.",
                        names=", ".join(f"{d.key} v{d.version}" for d in rows))),
    )
    response.status_code = 201 if created else 200
    return response


# ---------------------------------------------------------------------------- test runs

def _signer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="designer-test-run")


def _test_run_body() -> tuple[str, str, dict[str, Any]]:
    filename, xml = _diagram_body()
    body = request.get_json(silent=True) or {}
    return filename, xml, body


def _test_run_response(run: test_run.TestRun):
    return jsonify(
        ok=True, process=run.process, token=_signer().dumps(run.state), outcome=run.status,
        message=_(run.message) if run.message else None, completed=run.completed, active=run.active,
        waiting=run.waiting, tasks=run.tasks, timers=run.timers, thrown=run.thrown, data=run.data,
    )


def _test_run(action):
    """Run one test-run action; problems, a bad form and an expired run become JSON answers."""
    try:
        return _test_run_response(action())
    except service.DiagramTooLarge:
        return _too_large()
    except DefinitionError as exc:
        response = jsonify(ok=False, problems=problem_dicts(exc.problems),
                           message=_("The diagram has problems; fix them before a test run."))
        response.status_code = 422
        return response
    except test_run.FormInvalid as exc:
        response = jsonify(ok=False, fields=exc.errors, message=_("The data is not valid."))
        response.status_code = 422
        return response
    except NotFound as exc:
        response = jsonify(ok=False, message=_(exc.message))
        response.status_code = 409
        return response
    finally:
        db.session.rollback()  # a test run stores nothing


def _state(body: dict[str, Any]) -> str:
    try:
        return str(_signer().loads(body.get("token") or ""))
    except BadSignature:
        abort(400)


@bp.route("/test-run", methods=["POST"])
def test_run_start():
    """Start a throwaway run of the modeler's diagram (nothing is stored, no inbox sees it)."""
    filename, xml, body = _test_run_body()
    raw = body.get("data")
    data: dict[str, Any] = raw if isinstance(raw, dict) else {}
    return _test_run(lambda: test_run.start(db.session, runtime(), filename, xml, data, current_user, locale()))


@bp.route("/test-run/complete", methods=["POST"])
def test_run_complete():
    """Complete a task of a test run with the data entered for its form."""
    filename, xml, body = _test_run_body()
    state = _state(body)
    raw = body.get("data")
    data: dict[str, Any] = raw if isinstance(raw, dict) else {}
    task_id = str(body.get("task_id") or "")
    return _test_run(lambda: test_run.complete(db.session, runtime(), filename, xml, state, task_id, data,
                                               current_user, locale()))


@bp.route("/test-run/timers", methods=["POST"])
def test_run_timers():
    """Let the test run's waiting timers fire now."""
    filename, xml, body = _test_run_body()
    state = _state(body)
    return _test_run(lambda: test_run.fire_timers(db.session, runtime(), filename, xml, state, current_user,
                                                  locale()))


def _definition(definition_id: int):
    return service.definition_or_404(db.session, definition_id)


# ---------------------------------------------------------------------------- diff


@bp.route("/diff")
def diff():
    old_id, new_id = request.args.get("from", type=int), request.args.get("to", type=int)
    if not old_id or not new_id:
        abort(400)
    old, new, changes = service.diff(db.session, old_id, new_id)
    return render_template("designer/diff.html", title=_("Changes from v%(a)s to v%(b)s", a=old.version, b=new.version),
                           old=old, new=new, diff=changes, attribute_label=_attribute_label)


#: what changed on an element, in words (the engine's diff names the spec's attributes)
DIFF_ATTRIBUTES = {
    "bpmn_name": N_("name"), "name": N_("name"), "description": N_("element type"), "lane": N_("lane"),
    "documentation": N_("documentation"), "extensions": N_("properties (form, department, deadline…)"),
    "prescript": N_("script before the task"), "postscript": N_("script after the task"), "script": N_("script"),
    "inputs": N_("incoming flows"), "outputs": N_("outgoing flows"), "cond_task_specs": N_("flow conditions"),
    "default_task_spec": N_("default flow"), "event_definition": N_("event"), "manual": N_("manual task"),
    "sourceRef": N_("source"), "targetRef": N_("target"), "condition": N_("condition"),
    "data_input_associations": N_("data inputs"), "data_output_associations": N_("data outputs"),
    "io_specification": N_("data inputs and outputs"), "cancel_activity": N_("interrupting"),
    "main_child_task_spec": N_("inner task"), "task_spec": N_("inner task"), "cardinality": N_("number of instances"),
    "data_input": N_("collection"), "data_output": N_("result collection"), "condition_expression": N_("condition"),
    "loop_cardinality": N_("number of instances"), "completion_condition": N_("completion condition"),
    "spec": N_("called process"), "bpmn_id": N_("element id"),
}


def _attribute_label(name: str) -> str:
    return _(DIFF_ATTRIBUTES[name]) if name in DIFF_ATTRIBUTES else _("other (%(name)s)", name=name)


# ---------------------------------------------------------------------------- migration


@bp.route("/definitions/<int:definition_id>/migrate", methods=["GET", "POST"])
def migrate(definition_id: int):
    """Preview (GET) and migrate (POST) running instances of this version to another version."""
    source = _definition(definition_id)
    target_id = request.values.get("to", type=int)
    target = _definition(target_id) if target_id else service.live_definition(db.session, source.key)
    if target.key != source.key:
        abort(404)
    if request.method == "POST":
        FlaskForm().validate_on_submit() or abort(400)
        chosen = [int(v) for v in request.form.getlist("instance") if v.isdigit()]
        done, refused = [], []
        for instance_id in chosen:
            try:
                instance = service.get_instance(db.session, instance_id)
                if instance.definition_id != source.id:
                    raise NotFound("not an instance of this version")
                service.migrate(db.session, runtime(), instance_id, target, current_user)
                db.session.commit()
                done.append(instance_id)
            except MigrationRefused as exc:
                db.session.rollback()
                reasons = exc.details.get("reasons")
                refused.append(f"#{instance_id}: " + "; ".join(map(str, reasons if isinstance(reasons, list) else [])))
            except AppError as exc:
                db.session.rollback()
                refused.append(f"#{instance_id}: {_(exc.message)}")
        if done:
            flash(_("Migrated %(count)s instance(s) to v%(version)s.", count=len(done), version=target.version),
                  "success")
        for message in refused:
            flash(_("Not migrated: %(reason)s", reason=message), "danger")
        return redirect(url_for("designer.migrate", definition_id=source.id, to=target.id))
    plans = service.migration_preview(db.session, runtime(), source, target)
    versions = [v.definition for p in service.overview(db.session) if p.key == source.key for v in p.versions]
    return render_template("designer/migrate.html", title=_("Migrate instances"), source=source, target=target,
                           plans=plans, versions=versions, form=FlaskForm())


# ---------------------------------------------------------------------------- forms


@bp.route("/forms/new")
def new_form():
    return render_template("designer/form_editor.html", title=_("New form"), key="",
                           content=json.dumps(STARTER_FORM, ensure_ascii=False, indent=2), version=None)


@bp.route("/forms/<key>")
def form_editor(key: str):
    row = service.get_form(db.session, key)
    return render_template("designer/form_editor.html", title=key, key=key, version=row.version,
                           content=json.dumps(row.content, ensure_ascii=False, indent=2))


def _form_body() -> Any:
    if request.content_length is not None and request.content_length > 512 * 1024:
        abort(413)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400)
    return body.get("content")


@bp.route("/forms/preview", methods=["POST"])
def form_preview():
    """The form rendered with the app's own form macros (read-only), or its problems."""
    content = _form_body()
    problems = validate_definition(content)
    if problems:
        return render_template("designer/_form_preview.html", problems=problems, form=None, definition=None), 422
    cls = form_class(content, locale(), DatabaseChoices(db.session), base=FlaskForm)
    form = cls(formdata=None, meta={"csrf": False})
    return render_template("designer/_form_preview.html", problems=None, form=form, definition=content)


@bp.route("/forms/<key>", methods=["POST"])
def save_form(key: str):
    content = _form_body()
    try:
        row = service.save_form(db.session, key, content, current_user)
    except DefinitionError as exc:
        db.session.rollback()
        response = jsonify(ok=False, problems=problem_dicts(exc.problems))
        response.status_code = 422
        return response
    db.session.commit()
    return jsonify(ok=True, key=row.key, version=row.version, url=url_for("designer.form_editor", key=row.key),
                   message=_("Saved form %(key)s v%(version)s.", key=row.key, version=row.version))


# ---------------------------------------------------------------------------- instance viewer


@bp.route("/instances/<int:instance_id>")
def instance(instance_id: int):
    view = service.instance_view(db.session, runtime(), instance_id)
    markers = {"completed": view.completed, "active": view.active, "overdue": view.overdue,
               "waiting": view.waiting}
    return render_template("designer/instance.html", title=_("Process instance %(id)s", id=instance_id),
                           view=view,
                           config={"xml": readable_lanes(view.instance.definition.bpmn_xml), "markers": markers},
                           may_design=policy.may_design(current_user))
