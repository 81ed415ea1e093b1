"""The customer-facing side: the public feedback form's field subset and upload rules, the
per-address rate limit, the public status of a case, the customer's reply to an information
request, the satisfaction survey, and finding a case's attachments.

No Flask here: the web layer (app/web/public, app/web/files) translates the N_ messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, cast, delete, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.clock import clock
from app.data.models import AuditEvent, Case, HumanTask, PublicSubmission, SurveyResponse, TaskState
from app.engine import audit
from app.engine.context import Actor
from app.engine.errors import TaskNotOpen
from app.engine.runtime import WorkflowRuntime
from app.formkit.uploads import ACCEPT_ATTRIBUTE as ACCEPT_ATTRIBUTE  # re-exported: the web reads it here
from app.formkit.uploads import IMAGE_TYPES as IMAGE_TYPES
from app.formkit.uploads import detect_type, stream_size
from app.i18n import N_
from app.services.attachments import SHA256_RE
from app.services.cases import main_instance_id
from app.services.errors import AlreadyAnswered, NotWaiting, SurveyNotOpen

#: Who the engine and the audit trail see when a customer acts through a public page.
CUSTOMER = Actor(None, "customer")

# ---------------------------------------------------------------------------- the public form

#: The intake fields a customer fills in on the public form (the rest of ``case_intake`` —
#: channel and urgency — is set by the system, see PUBLIC_DEFAULTS).
PUBLIC_FIELDS = (
    "customer_name", "customer_contact", "customer_email", "product_model", "ship_date",
    "description", "defective_qty", "serial_numbers", "batch_no", "attachments", "demands",
    "feedback_type", "category",
)
#: A customer does not judge the urgency: it stays unassessed (the key present, so diagram
#: expressions can read it) until Marketing sets it when verifying or answering the feedback.
PUBLIC_DEFAULTS = {"channel": "web", "urgency": None}


def public_definition(definition: dict[str, Any]) -> dict[str, Any]:
    """``case_intake`` reduced to the customer-facing fields, in PUBLIC_FIELDS order."""
    by_name = {spec["name"]: spec for spec in definition.get("fields", [])}
    return {**definition, "fields": [by_name[name] for name in PUBLIC_FIELDS if name in by_name]}


def intake_from_public(data: dict[str, Any], language: str = "zh") -> dict[str, Any]:
    """The public form's data completed with what the system sets for web submissions; the
    customer's e-mails are written in ``language``, the one they used the form in."""
    intake = {key: value for key, value in data.items() if key in PUBLIC_FIELDS}
    intake.update(PUBLIC_DEFAULTS)
    intake["customer_language"] = language
    return intake


# ---------------------------------------------------------------------------- uploads

DEFAULT_MAX_FILE_BYTES = 10 * 1024 * 1024

UNACCEPTED_TYPE = N_("“%(name)s” is not an accepted file. Please send photos (JPEG, PNG, WebP, GIF), "
                     "PDF or Office documents.")
TOO_LARGE = N_("“%(name)s” is larger than %(mb)d MB.")



@dataclass
class UploadProblem:
    message: str  # an N_ msgid
    params: dict[str, Any]


def check_upload(upload: Any, max_bytes: int) -> tuple[str | None, UploadProblem | None]:
    """(detected content type, None) for an acceptable upload, else (None, the problem)."""
    name = (upload.filename or "file").replace("\\", "/").rsplit("/", 1)[-1][:200]
    stream = upload.stream
    if stream_size(stream) > max_bytes:
        return None, UploadProblem(TOO_LARGE, {"name": name, "mb": max_bytes // (1024 * 1024)})
    detected = detect_type(stream, upload.filename)
    if detected is None:
        return None, UploadProblem(UNACCEPTED_TYPE, {"name": name})
    return detected, None


# ---------------------------------------------------------------------------- rate limit

RATE_WINDOW = timedelta(hours=1)


def submissions_in_window(session: Session, client_ip: str, now: datetime | None = None) -> int:
    since = (now or clock.now()) - RATE_WINDOW
    return session.scalar(
        select(func.count()).select_from(PublicSubmission)
        .where(PublicSubmission.client_ip == client_ip, PublicSubmission.at > since)
    ) or 0


def over_limit(session: Session, client_ip: str, limit: int) -> bool:
    """True when ``client_ip`` has used up its submissions for the last hour (read only)."""
    return submissions_in_window(session, client_ip) >= limit


def reserve_submission(session: Session, client_ip: str, limit: int) -> bool:
    """Record one submission for ``client_ip`` in the current transaction; False (and nothing
    recorded) when that would exceed ``limit`` within the last hour.

    Submissions from one address are serialized — an advisory transaction lock on PostgreSQL,
    the database write lock on SQLite — so concurrent requests from any process count exactly.
    The row commits (or rolls back) together with the case it belongs to.
    """
    now = clock.now()
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": "public:" + client_ip})
    session.execute(delete(PublicSubmission).where(PublicSubmission.at <= now - RATE_WINDOW))
    row = PublicSubmission(client_ip=client_ip[:64], at=now)
    session.add(row)
    session.flush()
    if submissions_in_window(session, client_ip[:64], now) > limit:
        session.delete(row)
        session.flush()
        return False
    return True


# ---------------------------------------------------------------------------- public status

PUBLIC_STATUSES = {
    "received": N_("Feedback received"),
    "in_progress": N_("In progress"),
    "waiting": N_("Waiting for your information"),
    "answered": N_("Answered"),
    "closed": N_("Closed"),
    "unresolvable": N_("Could not be resolved"),
}
PUBLIC_STATUS_HELP = {
    "received": N_("We have received your feedback and will look into it shortly."),
    "in_progress": N_("We are working on your feedback."),
    "waiting": N_("We need more information from you. Please answer the question below."),
    "answered": N_("We have sent you our reply."),
    "closed": N_("This case is closed. Thank you for your feedback."),
    "unresolvable": N_("We could not resolve this case, for example because we did not receive the "
                       "information we needed. Please contact us if you want to continue."),
}
#: element ids of the tasks that wait on the customer's answer
WAITING_ELEMENTS = frozenset({"customer_reply"})
#: element ids whose completion is the company's answer to the customer
ANSWER_ELEMENTS = frozenset({"close_case", "answer_close"})
#: open tasks of the case's own process that may still run after the answer without the case
#: being reopened: the return visit, and the parallel branches that join only before the final
#: closing (Technical's review and reply, the shipment). The corrective-action tracking is a
#: process of its own and never counts.
AFTER_ANSWER_ELEMENTS = frozenset({"return_visit", "technical_review", "technical_reply", "shipment"})
#: per answer element, the one field written for the customer (never internal notes)
PUBLIC_ANSWER_FIELDS = {"close_case": "reply_to_customer", "answer_close": "answer"}
#: per question element, the one field written for the customer
PUBLIC_QUESTION_FIELDS = {"info_request": "question"}


def _completed(session: Session, case: Case, elements: frozenset[str] | set[str]) -> list[AuditEvent]:
    return list(session.scalars(
        select(AuditEvent)
        .where(AuditEvent.case_id == case.id, AuditEvent.action == "task_completed",
               AuditEvent.element.in_(sorted(elements)))
        .order_by(AuditEvent.at, AuditEvent.id)
    ).all())


def open_tasks(session: Session, case: Case) -> list[HumanTask]:
    return list(session.scalars(
        select(HumanTask).where(HumanTask.case_id == case.id, HumanTask.state == TaskState.OPEN)
        .order_by(HumanTask.created_at)
    ).all())


def public_status(session: Session, case: Case) -> str:
    """The status the customer sees (a key of PUBLIC_STATUSES).

    Answered: the reply that settles the matter was given (the customer's clock records it as
    the resolution) and the case's own process is not working on a new one (a reopened case is
    in progress again); what other processes of the case still do, e.g. tracking corrective
    actions, does not matter to the customer.
    """
    if case.status == "unresolvable":
        return "unresolvable"
    if case.status in ("closed", "cancelled") or case.closed_at is not None:
        return "closed"
    main = main_instance_id(session, case.id)
    elements = {task.element_id for task in open_tasks(session, case) if task.instance_id == main}
    if elements & WAITING_ELEMENTS:
        return "waiting"
    # a case opened before the customer's clock existed has no resolution recorded
    replied = case.resolved_at is not None if case.clock_state is not None else bool(
        _completed(session, case, ANSWER_ELEMENTS))
    if replied and elements <= AFTER_ANSWER_ELEMENTS:
        return "answered"
    anything_done = session.scalar(
        select(func.count()).select_from(AuditEvent)
        .where(AuditEvent.case_id == case.id, AuditEvent.action == "task_completed")
    )
    return "in_progress" if anything_done else "received"


def conversation(session: Session, case: Case) -> list[dict[str, Any]]:
    """The company's questions (info_request) and the customer's replies (customer_reply), in
    order: ``[{"kind": "question"|"reply"|"answer", "at", "text", "files"}]`` — public fields only."""
    items = []
    for event in _completed(session, case, {*PUBLIC_QUESTION_FIELDS, *WAITING_ELEMENTS, *ANSWER_ELEMENTS}):
        data = event.data_after if isinstance(event.data_after, dict) else {}
        if event.element in PUBLIC_QUESTION_FIELDS:
            text = str(data.get(PUBLIC_QUESTION_FIELDS[event.element]) or "")
            items.append({"kind": "question", "at": event.at, "text": text, "files": []})
        elif event.element == "customer_reply":
            files = [f for f in data.get("reply_attachments") or [] if isinstance(f, dict)]
            items.append({"kind": "reply", "at": event.at, "text": str(data.get("reply_text") or ""),
                          "files": [{"name": f.get("name"), "size": f.get("size")} for f in files]})
        else:
            answer = data.get(PUBLIC_ANSWER_FIELDS.get(event.element or "", ""))
            if answer:
                items.append({"kind": "answer", "at": event.at, "text": str(answer), "files": []})
    return items


def open_reply_task(session: Session, case: Case) -> HumanTask | None:
    return session.scalars(
        select(HumanTask).where(HumanTask.case_id == case.id, HumanTask.state == TaskState.OPEN,
                                HumanTask.element_id.in_(sorted(WAITING_ELEMENTS)))
        .order_by(HumanTask.created_at)
    ).first()


def submit_reply(session: Session, runtime: WorkflowRuntime, case: Case, reply_text: str,
                 files: list[dict[str, Any]], submit_token: str | None = None) -> HumanTask:
    """Complete the case's open ``customer_reply`` task with the customer's answer.

    The task belongs to Marketing; the customer acts through the engine directly (the status
    token is the authorization), recorded in the audit trail as "customer".
    """
    task = open_reply_task(session, case)
    if task is None:
        raise NotWaiting(N_("We are not waiting for information on this case any more."))
    data = {
        "reply_text": reply_text,
        "reply_received_at": clock.now().isoformat(),
        "reply_attachments": files,
    }
    try:
        return runtime.complete_task(session, task.id, data, CUSTOMER, submit_token=submit_token)
    except TaskNotOpen as exc:
        raise NotWaiting(N_("We are not waiting for information on this case any more.")) from exc


# ---------------------------------------------------------------------------- survey

#: score → label, best first (5 = very satisfied)
SURVEY_LEVELS = (
    (5, N_("Very satisfied")),
    (4, N_("Satisfied")),
    (3, N_("Neutral")),
    (2, N_("Dissatisfied")),
    (1, N_("Very dissatisfied")),
)
SURVEY_LABELS = dict(SURVEY_LEVELS)
#: reaching one of these steps opens the survey
SURVEY_ELEMENTS = frozenset({"close_case", "answer_close", "close"})


def survey_available(session: Session, case: Case) -> bool:
    """Once the case was closed, or its reply-and-close step completed."""
    if case.status == "closed":
        return True
    return bool(session.scalar(
        select(func.count()).select_from(HumanTask)
        .where(HumanTask.case_id == case.id, HumanTask.state == TaskState.COMPLETED,
               HumanTask.element_id.in_(sorted(SURVEY_ELEMENTS)))
    ))


def survey_for(session: Session, case: Case) -> SurveyResponse | None:
    return session.scalars(select(SurveyResponse).where(SurveyResponse.case_id == case.id)).first()


def answer_survey(session: Session, case: Case, score: int, comment: str | None) -> SurveyResponse:
    """Store the one survey answer of the case and record it in the audit trail."""
    if not survey_available(session, case):
        raise SurveyNotOpen(N_("The survey opens once we have replied to you."))
    if score not in SURVEY_LABELS:
        raise ValueError("score must be 1..5")
    if survey_for(session, case) is not None:
        raise AlreadyAnswered(N_("Thank you, this survey has already been answered."))
    now = clock.now()
    response = SurveyResponse(case_id=case.id, score=score, comment=(comment or "").strip() or None, at=now)
    try:
        with session.begin_nested():
            session.add(response)
            session.flush()
    except IntegrityError as exc:  # answered concurrently
        raise AlreadyAnswered(N_("Thank you, this survey has already been answered.")) from exc
    audit.record(session, actor=CUSTOMER, action="survey_answered", case_id=case.id, element="survey",
                 message=SURVEY_LABELS[score], after={"score": score, "comment": response.comment})
    return response


# ---------------------------------------------------------------------------- attachments of a case


def _descriptors(value: Any) -> list[dict[str, Any]]:
    """Every stored-file descriptor (``{"id": sha256, "name", …}``) inside task/case data."""
    found: list[dict[str, Any]] = []
    if isinstance(value, dict):
        if isinstance(value.get("id"), str) and SHA256_RE.match(value["id"]) and "name" in value:
            found.append(value)
        else:
            for item in value.values():
                found.extend(_descriptors(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(_descriptors(item))
    return found


def case_attachments(session: Session, case: Case) -> list[dict[str, Any]]:
    """The files of a case — its intake and every completed task — once each, oldest first:
    ``[{"id", "name", "size", "content_type", "is_image", "element", "at"}]``."""
    seen: dict[str, dict[str, Any]] = {}

    def add(items: list[dict[str, Any]], element: str | None, at: datetime | None) -> None:
        for item in items:
            if item["id"] in seen:
                continue
            content_type = str(item.get("content_type") or "application/octet-stream")
            seen[item["id"]] = {
                "id": item["id"], "name": str(item.get("name") or item["id"][:12]),
                "size": item.get("size") if isinstance(item.get("size"), int) else None,
                "content_type": content_type, "is_image": content_type in IMAGE_TYPES,
                "element": element, "at": at,
            }

    add(_descriptors(case.data), None, case.received_at)
    events = session.scalars(
        select(AuditEvent).where(AuditEvent.case_id == case.id, AuditEvent.action == "task_completed")
        .order_by(AuditEvent.at, AuditEvent.id)
    ).all()
    for event in events:
        add(_descriptors(event.data_after), event.element, event.at)
    return list(seen.values())


def attachment_references(session: Session, file_id: str) -> list[tuple[Case, dict[str, Any]]]:
    """The cases whose data or completed tasks hold the file ``file_id`` (a SHA-256), each with
    the file's descriptor there. The id is checked first; nothing is looked up by path."""
    if not SHA256_RE.match(file_id or ""):
        return []
    found: dict[int, tuple[Case, dict[str, Any]]] = {}
    for case in session.scalars(select(Case).where(cast(Case.data, String).contains(file_id))).all():
        match = next((d for d in _descriptors(case.data) if d["id"] == file_id), None)
        if match is not None:
            found[case.id] = (case, match)
    events = session.scalars(
        select(AuditEvent).where(AuditEvent.case_id.is_not(None), AuditEvent.action == "task_completed",
                                 cast(AuditEvent.data_after, String).contains(file_id))
    ).all()
    for event in events:
        if event.case_id in found:
            continue
        match = next((d for d in _descriptors(event.data_after) if d["id"] == file_id), None)
        owner = session.get(Case, event.case_id) if match is not None else None
        if owner is not None and match is not None:
            found[owner.id] = (owner, match)
    return list(found.values())
