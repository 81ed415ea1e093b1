"""Cases: list, intake of new feedback (Marketing), and the case page with its timeline."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import Select
from sqlalchemy.orm import load_only

from app.clock import clock, local_now, local_zone
from app.data.models import Case, HumanTask, TaskState
from app.data.queries.cases import (
    CaseFilter,
    case_processes,
    case_statuses,
    cases_query,
    open_tasks_of_cases,
    search_page,
)
from app.data.queries.history import audit_events
from app.data.queries.paging import page_of
from app.data.queries.people import departments_by_id
from app.data.queries.search import Shape
from app.data.queries.tasks import case_tasks
from app.engine.errors import NotFound
from app.errors import AppError
from app.extensions import db, file_store, runtime
from app.formkit.build import Validation, check_files, form_data, uploads_by_field, with_files
from app.services import case_export, customer_clock, policy
from app.services.cases import RECLASSIFIED, main_instance, open_case
from app.services.customer_mail import case_mails
from app.services.designer import instance_view
from app.services.forms import definition_by_key, definition_for_task, read_hashes
from app.services.tasks import actor_for
from app.web.shared.display import (
    AUDIT_ACTIONS,
    Formatter,
    automatic_text,
    feedback_type_label,
    fmt_dt,
    intake_choices,
    locale,
    process_title,
    readable,
    readable_lanes,
    status_badge,
    status_label,
    task_title,
    urgency_badge,
)
from app.web.shared.forms import build_form
from app.web.shared.links import row_url
from app.web.shared.uploads import file_limit, keep_received, received_uploads, received_used, too_large
from app.web.tasks.routes import offer_next

bp = Blueprint("cases", __name__, url_prefix="/cases")

PAGE_SIZE = 50
#: a search's matches are counted up to this many (counting every match of a common word in
#: 100,000 cases costs more than showing the first page)
SEARCH_COUNT_CAP = 1000
INTAKE_FORM = "case_intake"
#: intake fields the case essentials card (cases/_essentials.html) already shows: the "feedback as
#: recorded" card leaves them out, so the customer's details appear once
ESSENTIALS_SHOWN = frozenset({"customer_name", "customer_contact", "feedback_type", "urgency", "product_model",
                              "defective_qty", "description"})


#: the list's filters besides the search query, as query parameters
LIST_FILTERS = ("status", "clock", "stage", "department", "type", "category", "channel", "urgency", "from", "to",
                "overdue")
INTAKE_CHOICES = ("feedback_type", "category", "channel", "urgency")
#: what a row of the list reads: the columns it shows and those the customer's clock is computed
#: from — not the intake's ``data``, the description or the serial numbers (50 rows of those
#: were most of the bytes read and decoded for a page)
LIST_COLUMNS = load_only(Case.number, Case.customer_name, Case.feedback_type, Case.urgency, Case.status,
                         Case.received_at, Case.clock_state, Case.first_answer_at, Case.first_answer_due_at,
                         Case.resolution_due_at, Case.clock_paused_at, Case.clock_paused_minutes)


def _local_day(name: str) -> datetime | None:
    """A date filter (YYYY-MM-DD, the user's local day) as the UTC moment that day begins."""
    value = request.args.get(name, "").strip()
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        flash(_("“%(value)s” is not a valid date (use YYYY-MM-DD); that filter was ignored.", value=value[:20]),
              "warning")
        return None
    return datetime.combine(day, time.min, tzinfo=local_zone()).astimezone(UTC)


def _list_query() -> tuple[Callable[[Shape], Select], dict[str, str], dict]:
    """The case list's query from the request's filters (a function of the search's shape), and
    the filters as the form shows them."""
    args = request.args
    asked = {name: args.get(name, "").strip()[:100] for name in ("q", *LIST_FILTERS)}
    choices = {name: intake_choices(name) for name in INTAKE_CHOICES}
    equal = {"feedback_type": asked["type"], "category": asked["category"], "channel": asked["channel"],
             "urgency": asked["urgency"]}
    known = {key: value if value in choices[key] else None for key, value in equal.items()}
    department = int(asked["department"]) if asked["department"].isdigit() else None
    received_from, to = _local_day("from"), _local_day("to")
    flt = CaseFilter(
        stage=asked["stage"], department_id=department if department and department < 2**31 else None,
        received_from=received_from, received_before=to + timedelta(days=1) if to else None,
        overdue_at=clock.now() if asked["overdue"] else None,
    )
    clock_state = asked["clock"] if asked["clock"] in customer_clock.STATES else None
    limit_to = None if policy.sees_all_cases(current_user) else current_user.department_ids
    dialect = db.session.get_bind().dialect.name

    def stmt_in(shape: Shape) -> Select:
        return cases_query(limit_to, asked["status"] or None, asked["q"] or None, clock_state, flt,
                           dialect=dialect, shape=shape, **known)

    return stmt_in, asked, choices


def stages(tasks_by_case: dict[int, list[HumanTask]]) -> dict[int, str]:
    """Each case's current stage in the user's language: its open tasks' titles, naming the
    department a task is about — and the department of each of a task repeated per department
    (the 8D report of production and of purchasing)."""
    result = {}
    fmt = Formatter()  # the language looked up once, not per task
    separator = ", " if fmt.locale == "en" else "、"
    for case_id, tasks in tasks_by_case.items():
        titles = [fmt.task_title(task) for task in tasks]
        repeated = {title for title in titles if titles.count(title) > 1}
        result[case_id] = separator.join(dict.fromkeys(
            f"{title} · {fmt.dept_name(task.department_id)}" if title in repeated and task.department_id else title
            for title, task in zip(titles, tasks, strict=True)))
    return result


@bp.route("/")
@login_required
def index():
    if not policy.may_list_cases(current_user):
        abort(403)
    try:
        page = max(int(request.args.get("page", 1)), 1)
    except ValueError:
        page = 1
    stmt_in, asked, choices = _list_query()
    if asked["q"]:  # a search counts its matches up to SEARCH_COUNT_CAP ("1000+")
        rows, total, exact = search_page(db.session, stmt_in, (page - 1) * PAGE_SIZE, PAGE_SIZE, SEARCH_COUNT_CAP,
                                         (LIST_COLUMNS,))
    else:
        (rows, total), exact = page_of(db.session, stmt_in("index").options(LIST_COLUMNS), page, PAGE_SIZE), True
    now = clock.now()
    fmt = Formatter(now)
    return render_template(
        "cases/index.html", title=_("Cases"), cases=rows, total=total, exact=exact, page=page, labels=_labels(rows),
        # the rows' helpers bound once to the page (language, time zone, translations: the page's
        # fifty-odd texts), their links built from one url_for
        fmt=fmt, _=fmt.template_gettext, case_url=row_url("cases.show", "case_id", 2**31 - 1),
        pages=max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1), asked=asked, q=asked["q"],
        statuses=case_statuses(db.session), may_open=policy.may_open_case(current_user),
        clock_states=customer_clock.STATES, choices=choices, departments=_departments(),
        clocks={case.id: customer_clock.view(case, now) for case in rows},
        stages=stages(open_tasks_of_cases(db.session, {case.id for case in rows})),
        filtered=any(asked.values()), export_args={k: v for k, v in asked.items() if v},
    )


def _labels(rows: Sequence[Case]) -> dict[str, dict]:
    """The rows' type, urgency and status as shown, made once per distinct value (each is a
    translation look-up): what each row of the list picks from."""
    return {"type": {value: feedback_type_label(value) for value in {case.feedback_type for case in rows}},
            "urgency": {value: urgency_badge(value) for value in {case.urgency for case in rows}},
            "status": {value: status_badge(value) for value in {case.status for case in rows}}}


def _departments() -> list[tuple[int, str]]:
    return sorted(((dept.id, dept.name(locale())) for dept in departments_by_id(db.session).values()),
                  key=lambda item: item[1])


@bp.route("/export.xlsx")
@login_required
def export():
    """The case list with the current filters as an Excel workbook."""
    if not policy.may_list_cases(current_user):
        abort(403)
    stmt_in, asked, choices = _list_query()
    stmt = stmt_in("index")
    stage_of = stages(open_tasks_of_cases(db.session, stmt.with_only_columns(Case.id).order_by(None)))
    headers = [_("Case number"), _("Received"), _("Customer"), _("Contact"), _("Product model"),
               _("Serial numbers"), _("Feedback type"), _("Category"), _("Channel"), _("Urgency"), _("Status"),
               _("Current stage"), _("Closed"), _("Description")]

    def cells(case: Case) -> list:
        return [case.number, fmt_dt(case.received_at), case.customer_name, case.customer_contact,
                case.product_model, case.serial_numbers, feedback_type_label(case.feedback_type),
                choices["category"].get(case.category or "", case.category),
                choices["channel"].get(case.channel or "", case.channel),
                choices["urgency"].get(case.urgency or "", case.urgency), status_label(case.status),
                stage_of.get(case.id, ""), fmt_dt(case.closed_at) if case.closed_at else "", case.description]

    described = "cases " + " ".join(f"{key}={value}" for key, value in asked.items() if value)
    content = case_export.export_cases(db.session, current_user, stmt, _("Cases"), headers, cells, described.strip())
    db.session.commit()
    filename = f"cases-{local_now():%Y%m%d-%H%M}.xlsx"
    return Response(content, mimetype=case_export.XLSX,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


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
    read_hashes(db.session, {t.form_id for t in tasks})  # the timeline's forms: one statement for all
    try:
        intake_definition = definition_by_key(db.session, INTAKE_FORM)
    except NotFound:
        intake_definition = None
    timeline = []
    processes = case_processes(db.session, case.id)
    main_id = next(iter(processes), None)
    for event in audit_events(db.session, case_id=case.id):
        item = {"event": event, "label": _action_label(event.action), "data": [], "title": None}
        if event.action == "process_started" and event.instance_id != main_id:
            # e.g. the corrective-action tracking an accepted 8D started
            started = processes.get(event.instance_id or 0)
            item["label"] = _("Process “%(name)s” started", name=process_title(started))
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
        intake=readable(intake_definition, {key: value for key, value in (case.data or {}).items()
                                            if key not in ESSENTIALS_SHOWN}),
        status_url=_status_url(case),
        diagram=_diagram(case), customer_clock=customer_clock.view(case, clock.now()), **_public_side(case),
    )


def _approval_title(event) -> str:
    """An approvals-screen decision in words: approved or returned, with the reason given."""
    after = event.data_after or {}
    verdict = _("approved") if after.get("decision") == "approve" else _("returned")
    reason = automatic_text(str(after.get("reason") or ""))
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
