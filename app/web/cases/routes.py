"""Cases: list, intake of new feedback (Marketing), and the case page with its timeline."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.clock import clock
from app.data.models import Case, HumanTask, TaskState
from app.data.queries.cases import case_process_names, case_statuses, cases_query
from app.data.queries.history import audit_events
from app.data.queries.paging import page_of
from app.data.queries.tasks import case_tasks
from app.engine.errors import NotFound
from app.errors import AppError
from app.extensions import db, file_store, runtime
from app.formkit.build import Validation, check_files, form_data, uploads_by_field, with_files
from app.services import customer_clock, policy
from app.services.cases import RECLASSIFIED, main_instance, open_case
from app.services.customer_mail import case_mails
from app.services.designer import instance_view
from app.services.forms import definition_by_key, definition_for_task
from app.services.tasks import actor_for
from app.web.shared.display import AUDIT_ACTIONS, fmt_dt, locale, readable, readable_lanes, task_title
from app.web.shared.forms import build_form
from app.web.shared.uploads import file_limit, keep_received, received_uploads, received_used, too_large
from app.web.tasks.routes import offer_next

bp = Blueprint("cases", __name__, url_prefix="/cases")

PAGE_SIZE = 50
INTAKE_FORM = "case_intake"


@bp.route("/")
@login_required
def index():
    if not policy.may_list_cases(current_user):
        abort(403)
    status = request.args.get("status", "").strip() or None
    search = request.args.get("q", "").strip()[:100] or None
    try:
        page = max(int(request.args.get("page", 1)), 1)
    except ValueError:
        page = 1
    asked = request.args.get("clock", "").strip()
    clock_state = asked if asked in customer_clock.STATES else None
    limit_to = None if policy.sees_all_cases(current_user) else current_user.department_ids
    rows, total = page_of(db.session, cases_query(limit_to, status, search, clock_state), page, PAGE_SIZE)
    now = clock.now()
    return render_template(
        "cases/index.html", title=_("Cases"), cases=rows, total=total, page=page,
        pages=max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1), status=status or "", q=search or "",
        statuses=case_statuses(db.session), may_open=policy.may_open_case(current_user),
        clock_state=clock_state or "", clock_states=customer_clock.STATES,
        clocks={case.id: customer_clock.view(case, now) for case in rows},
    )


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new_case():
    if not policy.may_open_case(current_user):
        abort(403)
    definition = definition_by_key(db.session, INTAKE_FORM)
    form = build_form(definition)
    got = received_uploads()
    if request.method == "POST":
        refused = too_large()
        valid = form.validate_on_submit()
        valid = valid and not refused
        valid = check_files(form, definition, locale(), received=got.files, max_bytes=file_limit()) and valid
        if valid:
            try:
                intake = with_files(definition, Validation(form_data(form, definition), {}, form,
                                                           uploads_by_field(form, definition)),
                                    file_store(), received=got.files)
                case = open_case(db.session, runtime(), intake, actor_for(current_user))
                received_used(got)
                db.session.commit()
            except AppError as exc:
                db.session.rollback()
                flash(_("The case could not be opened: %(reason)s", reason=_(exc.message)), "danger")
            else:
                flash(_("Case %(number)s created.", number=case.number), "success")
                offer_next(case.id)  # its first task is in the department's queue, not yet "mine"
                return redirect(url_for("cases.show", case_id=case.id))
        db.session.rollback()
        got = keep_received(got, form, definition, locale())
        return render_template("cases/new.html", title=_("New case"), form=form, definition=definition,
                               invalid=True, received=got.rows, upload_token=got.token, too_large=refused), 422
    return render_template("cases/new.html", title=_("New case"), form=form, definition=definition,
                           upload_token=got.token)


def _action_label(action: str) -> str:
    labels = {
        "process_started": _("Case opened, process started"),
        "task_completed": _("Task completed"),
        "timer_fired": _("Deadline timer fired"),
        "message_delivered": _("Message received"),
        "process_cancelled": _("Process cancelled"),
        "incident": _("Incident"),
        "event_thrown": _("Follow-up process triggered"),
        "approval_decision": _("Decided on the approvals screen"),
        "instance_migrated": _("Process moved to a newer version of its diagram"),
        "survey_answered": _("Satisfaction survey answered"),
        "deadline_moved": _("Deadline moved (the working calendar changed)"),
        RECLASSIFIED: _("Classification corrected"),
    }
    return labels.get(action) or (_(AUDIT_ACTIONS[action]) if action in AUDIT_ACTIONS else _("Recorded event"))


@bp.route("/<int:case_id>")
@login_required
def show(case_id: int):
    case = db.session.get(Case, case_id)
    if case is None:
        abort(404)
    if not policy.may_view_case(db.session, current_user, case):
        abort(403)
    tasks = case_tasks(db.session, case.id)
    by_id: dict[str, HumanTask] = {t.id: t for t in tasks}
    definitions: dict[str, dict | None] = {}
    try:
        intake_definition = definition_by_key(db.session, INTAKE_FORM)
    except NotFound:
        intake_definition = None
    timeline = []
    processes = case_process_names(db.session, case.id)
    main_id = next(iter(processes), None)
    for event in audit_events(db.session, case_id=case.id):
        item = {"event": event, "label": _action_label(event.action), "data": [], "title": None}
        if event.action == "process_started" and event.instance_id != main_id:
            # e.g. the corrective-action tracking an accepted 8D started
            item["label"] = _("Process “%(name)s” started", name=processes.get(event.instance_id or 0, ""))
        if event.actor_id is None and event.actor_label == "customer":
            item["actor"] = _("Customer")  # public pages (feedback form, status link, survey)
        task = by_id.get(event.task_id or "")
        if event.action == "task_completed" and task is not None:
            item["title"] = task_title(task)
            item["task"] = task
            if task.id not in definitions:
                try:
                    definitions[task.id] = definition_for_task(db.session, task)
                except NotFound:
                    definitions[task.id] = None
            item["data"] = readable(definitions[task.id], event.data_after)
        elif event.action == "deadline_moved":
            item["title"] = _("%(what)s, from %(before)s to %(after)s",
                              what=task_title(task) if task is not None else event.message,
                              before=fmt_dt((event.data_before or {}).get("due_at")),
                              after=fmt_dt((event.data_after or {}).get("due_at")))
        elif event.action in ("incident", "process_cancelled", "timer_fired"):
            item["title"] = event.message
        elif event.action == "survey_answered" and event.message:
            item["title"] = _(event.message)
        elif event.action == "approval_decision":
            item["title"] = _approval_title(event)
        elif event.action == RECLASSIFIED:
            item["title"], item["data"] = _reclassification(intake_definition, event)
        timeline.append(item)
    open_tasks = [t for t in tasks if t.state == TaskState.OPEN]
    return render_template(
        "cases/show.html", title=case.number, case=case, open_tasks=open_tasks, timeline=timeline,
        intake=readable(intake_definition, case.data), status_url=_status_url(case),
        diagram=_diagram(case), customer_clock=customer_clock.view(case, clock.now()), **_public_side(case),
    )


def _approval_title(event) -> str:
    """An approvals-screen decision in words: approved or returned, with the reason given."""
    after = event.data_after or {}
    verdict = _("approved") if after.get("decision") == "approve" else _("returned")
    reason = after.get("reason")
    return _("%(verdict)s — %(reason)s", verdict=verdict, reason=reason) if reason else verdict


def _reclassification(intake_definition: dict | None, event) -> tuple[str, list[dict]]:
    """"Feedback type: 咨询 → 投诉" for each corrected field (labels and values as on the intake
    form), and the reason given."""
    before = {item["label"]: item["value"] for item in readable(intake_definition, event.data_before)}
    changes = [f"{item['label']}: {before.get(item['label'], '—')} → {item['value']}"
               for item in readable(intake_definition, event.data_after)]
    reason = [{"label": _("Reason"), "value": event.message}] if event.message else []
    return "；".join(changes), reason


def _diagram(case: Case) -> dict | None:
    """The case's process diagram with completed, active and overdue elements marked."""
    instance = main_instance(db.session, case)
    if instance is None:
        return None
    view = instance_view(db.session, runtime(), instance.id)
    return {
        "xml": readable_lanes(instance.definition.bpmn_xml),
        "markers": {"completed": view.completed, "active": view.active, "overdue": view.overdue,
                    "waiting": view.waiting},
    }


def _public_side(case: Case) -> dict:
    """The case's attachments (with previews) and the customer's survey answer."""
    from app.services.public import SURVEY_LABELS, case_attachments, survey_for

    survey = survey_for(db.session, case)
    return {
        "attachments": case_attachments(db.session, case),
        "survey": survey,
        "survey_label": _(SURVEY_LABELS[survey.score]) if survey else None,
        "customer_mails": case_mails(db.session, case.id),
        "mail_kinds": {"acknowledgement": _("Acknowledgement"), "question": _("Request for information"),
                       "reply": _("Reply")},
        "mail_states": {"pending": _("waiting to be sent"), "sent": _("sent"), "failed": _("failed")},
    }


def _status_url(case: Case) -> str:
    """The customer's status page (served by the public blueprint once it exists)."""
    from flask import current_app

    for endpoint in ("public.status", "public.case_status"):
        if endpoint in current_app.view_functions:
            try:
                return url_for(endpoint, token=case.public_token, _external=True)
            except Exception:  # noqa: BLE001, S110 - another parameter name: fall back to the plain URL
                pass
    return request.host_url.rstrip("/") + "/status/" + case.public_token
