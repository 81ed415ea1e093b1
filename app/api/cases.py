"""Cases: open one from intake data (starting its process) and read one with its tasks and history."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import jsonify, request, url_for
from flask_babel import gettext as _
from sqlalchemy import Select

from app.api import bp
from app.api.auth import api_locale, api_user, endpoint, int_id, iso, json_body, page_args, validation_error
from app.api.errors import ApiError
from app.api.tasks import task_items, task_title
from app.clock import clock, local_zone
from app.data.models import AuditEvent, Case, TaskState
from app.data.queries.cases import CaseFilter, cases_query, search_page
from app.data.queries.history import audit_events
from app.data.queries.paging import count_rows
from app.data.queries.search import Shape
from app.data.queries.tasks import case_tasks
from app.engine.errors import NotFound
from app.extensions import db, runtime
from app.formkit.schema import file_fields
from app.i18n import N_
from app.services import cases as case_service
from app.services import customer_clock, policy
from app.services import forms as form_service
from app.services.tasks import actor_for

INTAKE_FORM = "case_intake"


def case_summary(case: Case) -> dict[str, Any]:
    return {
        "id": case.id,
        "number": case.number,
        "status": case.status,
        "stage": case.stage,
        "feedback_type": case.feedback_type,
        "category": case.category,
        "urgency": case.urgency,
        "channel": case.channel,
        "customer_name": case.customer_name,
        "customer_contact": case.customer_contact,
        "customer_email": case.customer_email,
        "product_model": case.product_model,
        "serial_numbers": case.serial_numbers,
        "batch_no": case.batch_no,
        "ship_date": iso(case.ship_date),
        "defective_qty": case.defective_qty,
        "description": case.description,
        "received_at": iso(case.received_at),
        "acknowledged_at": iso(case.acknowledged_at),
        "closed_at": iso(case.closed_at),
        "updated_at": iso(case.updated_at),
        "customer_locale": case.customer_locale,
        "customer_clock": clock_summary(case),
        "data": case.data or {},
    }


def clock_summary(case: Case) -> dict[str, Any]:
    view = customer_clock.view(case, clock.now())
    return {
        "state": view.state,
        "running": view.clock,
        "hours_left": view.hours_left,
        "first_answer_due_at": iso(case.first_answer_due_at),
        "first_answer_at": iso(case.first_answer_at),
        "first_answer_met": case.first_answer_met,
        "first_answer_minutes": case.first_answer_minutes,
        "resolution_due_at": iso(case.resolution_due_at),
        "resolved_at": iso(case.resolved_at),
        "resolution_met": case.resolution_met,
        "resolution_minutes": case.resolution_minutes,
        "waited_minutes": case.clock_paused_minutes or 0,
    }


def history_item(event: AuditEvent) -> dict[str, Any]:
    return {
        "at": iso(event.at),
        "actor": event.actor_label,
        "action": event.action,
        "element": event.element,
        "message": event.message,
    }


def visible_case(case_id: int) -> Case:
    number = int_id(case_id)
    if number is None:
        raise NotFound(N_("Case not found."))
    return case_service.get_visible_case(db.session, api_user(), number)


@bp.post("/cases")
@endpoint()
def create_case():
    """Register a case from intake data (validated with the case_intake form) and start its process."""
    user = api_user()
    policy.require(policy.may_open_case(user), N_("Only marketing staff and administrators may open cases."))
    body = json_body()
    definition = form_service.definition_by_key(db.session, INTAKE_FORM)
    validation = form_service.validate_submission(db.session, definition, body, api_locale())
    files = {name: [N_("Files cannot be sent as JSON; add them on the case page.")]
             for name in file_fields(definition) if name in body}
    if not validation.ok or files:
        raise validation_error({**validation.errors, **files})
    case = case_service.open_case(db.session, runtime(), validation.data, actor_for(user))
    db.session.commit()
    response = jsonify(case_summary(case))
    response.status_code = 201
    response.headers["Location"] = url_for("api.get_case", case_id=case.id)
    return response


CASE_FILTERS = ("status", "feedback_type", "category", "urgency", "channel")
DEFAULT_LIMIT, MAX_LIMIT = 50, 200
SEARCH_COUNT_CAP = 1000


def _query_day(name: str) -> datetime | None:
    """A local day (YYYY-MM-DD) as the UTC moment it begins."""
    value = _query_text(name, 10)
    if value is None:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ApiError(400, _("%(name)s must be a date (YYYY-MM-DD).", name=name)) from None
    return datetime.combine(day, time.min, tzinfo=local_zone()).astimezone(UTC)


def _case_filter() -> CaseFilter:
    department = _query_text("department", 10)
    if department is not None and not (department.isdigit() and 0 < int(department) < 2**31):
        raise ApiError(400, _("department must be a department id."))
    overdue = (_query_text("overdue", 5) or "false").lower()
    if overdue not in ("true", "false", "1", "0"):
        raise ApiError(400, _("overdue must be true or false."))
    until = _query_day("received_until")
    return CaseFilter(
        stage=_query_text("stage") or "", department_id=int(department) if department else None,
        received_from=_query_day("received_from"), received_before=until + timedelta(days=1) if until else None,
        overdue_at=clock.now() if overdue in ("true", "1") else None,
    )


def _query_text(name: str, limit: int = 100) -> str | None:
    value = request.args.get(name, "").strip()
    if len(value) > limit or "\x00" in value:
        raise ApiError(400, _("The query parameter %(name)s is too long or invalid.", name=name))
    return value or None


@bp.get("/cases")
@endpoint()
def list_cases():
    """Cases the caller may read, newest first: filters by status, type, category, urgency,
    channel, stage, department, receipt day and overdue tasks; ``q`` searches the case's text
    (as the case list does: :mod:`app.data.queries.search`); ``limit``/``offset`` page."""
    user = api_user()
    policy.require(policy.may_list_cases(user), N_("You may not list cases."))
    limit, offset = page_args(DEFAULT_LIMIT, MAX_LIMIT)
    filters = {name: _query_text(name, 40) for name in CASE_FILTERS}
    limit_to = None if policy.sees_all_cases(user) else set(user.department_ids)
    q = _query_text("q")
    status, flt, dialect = filters.pop("status"), _case_filter(), db.session.get_bind().dialect.name

    def stmt_in(shape: Shape) -> Select:
        return cases_query(limit_to, status, q, flt=flt, dialect=dialect, shape=shape, **filters)

    if q:  # a search counts its matches up to SEARCH_COUNT_CAP (total_exact false beyond)
        rows, total, exact = search_page(db.session, stmt_in, offset, limit, SEARCH_COUNT_CAP)
    else:
        stmt = stmt_in("index")
        total, exact = count_rows(db.session, stmt), True
        rows = db.session.scalars(stmt.limit(limit).offset(offset)).all()
    return jsonify(total=total, total_exact=exact, limit=limit, offset=offset, cases=[case_summary(c) for c in rows])


@bp.get("/cases/<int:case_id>")
@endpoint()
def get_case(case_id: int):
    """The case's essentials, status and stages, open tasks and history."""
    case = visible_case(case_id)
    locale = api_locale()
    open_tasks = [t for t in case_tasks(db.session, case.id) if t.state == TaskState.OPEN]
    body = case_summary(case)
    body.update(
        stages=list(dict.fromkeys(task_title(t, locale) for t in open_tasks)),
        open_tasks=task_items(open_tasks, locale),
        history=[history_item(e) for e in audit_events(db.session, case_id=case.id)],
    )
    return jsonify(body)
