"""The customer hears from us (ISO 10002: acknowledgement, status, decision).

When a case has the customer's e-mail address, the customer gets, in the language recorded on
the case (``customer_locale``: the language of the public form they used, or the one Marketing
chose at intake):

* ``acknowledgement`` — when the case is opened: the case number, when we received it and
  the link to the status page;
* ``question`` — when Marketing asks for missing information: the question and the link to
  answer it on the status page;
* ``reply`` — when the reply that settles the matter is given (a task whose ``customerClock``
  is ``resolution``: the answer, or the measures the customer accepted): the reply, the status
  link and the satisfaction survey link.

Like every e-mail they only become ``email_outbox`` rows in the workflow's transaction (the
texts are rendered before any row is added, so a failure here is logged and never touches the
case); the outbox job sends them over SMTP with its retries. Texts: ``templates/email/customer.<zh|en>.txt``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.clock import clock
from app.data.models import Case, EmailOutbox, HumanTask, TaskState
from app.data.models.notifications import OutboxStatus
from app.engine.context import Hook, RunContext
from app.engine.projection import task_data_change
from app.services import customer_clock
from app.services.cases import main_instance_id
from app.services.notifications import LOCALES, local_time
from app.services.public import PUBLIC_ANSWER_FIELDS, PUBLIC_QUESTION_FIELDS

log = logging.getLogger(__name__)

ACKNOWLEDGEMENT, QUESTION, REPLY = "acknowledgement", "question", "reply"
KINDS = (ACKNOWLEDGEMENT, QUESTION, REPLY)


def case_locale(case: Case) -> str:
    return case.customer_locale if case.customer_locale in LOCALES else "zh"


def public_links(case: Case) -> dict[str, str]:
    """The customer's status and survey pages (``BASE_URL`` + the case's token)."""
    from flask import current_app

    base = str(current_app.config.get("BASE_URL") or "").rstrip("/")
    return {"status_url": f"{base}/status/{case.public_token}", "survey_url": f"{base}/survey/{case.public_token}"}


def render(kind: str, params: Mapping[str, Any], locale: str) -> tuple[str, str]:
    """(subject, body) of a customer e-mail in ``locale``."""
    from flask import get_template_attribute

    template = f"email/customer.{locale}.txt"
    subject = " ".join(str(get_template_attribute(template, "subject")(kind, params)).split())
    body = str(get_template_attribute(template, "body")(kind, params)).strip() + "\n"
    return subject, body


def queue(session: Session, case: Case, kind: str, text: str | None = None) -> EmailOutbox | None:
    """Put an e-mail to the case's customer into the outbox (None without an address). Needs an
    application context (templates, ``BASE_URL``)."""
    row = outbox_row(case, kind, text)
    if row is not None:
        session.add(row)
    return row


def outbox_row(case: Case, kind: str, text: str | None = None) -> EmailOutbox | None:
    """The outbox row of an e-mail to the case's customer, rendered, not yet added (None
    without an address). Needs an application context (templates, ``BASE_URL``)."""
    address = (case.customer_email or "").strip()
    if not address:
        return None
    locale = case_locale(case)
    params = {
        "case_number": case.number, "customer_name": case.customer_name,
        "received_at": local_time(case.received_at, None), "text": text or "", **public_links(case),
    }
    subject, body = render(kind, params, locale)
    now = clock.now()
    return EmailOutbox(
        case_id=case.id, kind=kind, to_address=address[:200], subject=subject[:300], body=body, locale=locale,
        status=OutboxStatus.PENDING, attempts=0, next_attempt_at=now, created_at=now,
    )


def _field(workflow: Any, row: HumanTask, field: str) -> str:
    change = task_data_change(workflow, row.id)
    value = change[1].get(field) if change is not None else None
    return str(value or "").strip()


def mails_for(workflow: Any, ctx: RunContext) -> list[tuple[str, str | None]]:
    """The customer e-mails one operation of a case's own process calls for: (kind, text)."""
    mails: list[tuple[str, str | None]] = []
    if ctx.action == "process_started":
        mails.append((ACKNOWLEDGEMENT, None))
    for row in ctx.closed:
        if row.state != TaskState.COMPLETED:
            continue
        if row.element_id in PUBLIC_QUESTION_FIELDS:
            mails.append((QUESTION, _field(workflow, row, PUBLIC_QUESTION_FIELDS[row.element_id])))
        elif (row.element_id in PUBLIC_ANSWER_FIELDS
              and customer_clock.task_kind(workflow, row) == customer_clock.RESOLUTION):
            mails.append((REPLY, _field(workflow, row, PUBLIC_ANSWER_FIELDS[row.element_id])))
    return mails


def customer_mail_hook(app: Any) -> Hook:
    """Runtime hook: queue the customer e-mails an operation of a case's own process calls for.

    What can fail (rendering the texts) happens before anything is added: a failure is logged
    and the workflow goes on without the e-mails (no savepoint needed).
    """
    from flask import has_app_context

    def hook(session: Session, instance: Any, workflow: Any, ctx: RunContext) -> None:
        if instance.case_id is None or ctx.incident:
            return
        case = session.get(Case, instance.case_id)
        if case is None or not (case.customer_email or "").strip():
            return
        if instance.id != main_instance_id(session, case.id):
            return
        mails = mails_for(workflow, ctx)
        if not mails:
            return
        try:
            with contextlib.nullcontext() if has_app_context() else app.app_context():
                rows = [outbox_row(case, kind, text) for kind, text in mails]
        except Exception:  # noqa: BLE001 - e-mails never break the workflow
            log.exception("customer e-mails for case %s failed", case.id)
            return
        session.add_all(row for row in rows if row is not None)

    return hook


def case_mails(session: Session, case_id: int) -> Sequence[EmailOutbox]:
    """The e-mails to a case's customer, oldest first (for the case page)."""
    return session.scalars(
        select(EmailOutbox).where(EmailOutbox.case_id == case_id).order_by(EmailOutbox.created_at, EmailOutbox.id)
    ).all()
