"""The monthly management report by e-mail: when an administrator turned it on (setting
``reports.monthly_email``), the scheduler puts the report of the month before, as a PDF
attachment, into the e-mail outbox for the General Manager (role ``manager``) and every
department head — once per month, however many schedulers run (the month sent is kept in
``app_setting``, read under a row lock). Each head gets the figures of their own departments,
each reader their language; recipients who see the same figures in the same language share
one rendering.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.clock import local_zone
from app.data.models import AppSetting, EmailOutbox, User
from app.engine import audit
from app.engine.context import Actor
from app.i18n import N_
from app.services import attachments as stored_files
from app.services import policy
from app.services import settings as app_settings
from app.services.documents import management_report
from app.services.notifications import department_heads, user_locale, users_with_role

SENT = "reports.monthly_sent"
MAILED = "report_mailed"
SYSTEM = Actor.system("scheduler")
log = logging.getLogger(__name__)


@dataclass
class _Pdf:
    """A rendered PDF in the shape :func:`app.services.attachments.store` takes."""

    filename: str | None
    stream: BinaryIO
    content_type: str | None = "application/pdf"


def previous_month(now: datetime) -> date:
    """The first day of the month before ``now`` (local calendar)."""
    first = now.astimezone(local_zone()).date().replace(day=1)
    return (first - timedelta(days=1)).replace(day=1)


def recipients(session: Session) -> list[User]:
    """The General Manager(s) and the department heads with an e-mail address, once each."""
    from app.data.models import Department

    found: dict[int, User] = {u.id: u for u in users_with_role(session, "manager")}
    for department_id in session.scalars(select(Department.id)):
        found.update((u.id, u) for u in department_heads(session, department_id))
    return [u for u in found.values() if u.email]


def _claim(session: Session, month: str) -> bool:
    """Mark ``month`` as sent unless it already was (the row locked until the caller commits)."""
    row = session.get(AppSetting, SENT, with_for_update=True)
    if row is not None and row.value == month:
        return False
    row = row or AppSetting(key=SENT)
    row.value = month
    session.add(row)
    session.flush()
    return True


def _message(lang: str, period: str, link: str) -> tuple[str, str]:
    from flask_babel import force_locale, gettext

    with force_locale(lang):
        subject = gettext("Management report %(period)s", period=period)
        body = gettext("The management report of customer feedback for %(period)s is attached as PDF. "
                       "The same report on the web: %(link)s", period=period, link=link)
    return str(subject), str(body) + "\n"


def mail_monthly_report(session: Session, upload_dir: str | Path, now: datetime, base_url: str = "") -> int:
    """Queue the report of the month before ``now`` for its readers; returns the e-mails queued
    (0 when turned off or already sent for that month)."""
    if not app_settings.monthly_report_enabled(session):
        return 0
    start = previous_month(now)
    month = start.isoformat()[:7]
    if not _claim(session, month):
        return 0
    args = {"period": "month", "start": start.isoformat()}
    groups: dict[tuple[Any, str], list[User]] = {}
    for user in recipients(session):
        groups.setdefault((policy.analytics_scope(user), user_locale(user)), []).append(user)
    queued = []
    for (_scope, lang), readers in groups.items():
        _report, document = management_report.pdf(session, readers[0], args, lang, printed_by=N_("the scheduler"))
        stored = stored_files.store(upload_dir, _Pdf(document.filename, io.BytesIO(document.content)))
        subject, body = _message(lang, month, f"{base_url.rstrip('/')}/reports/management?period=month&start={start}")
        for reader in readers:
            session.add(EmailOutbox(to_address=reader.email, subject=subject, body=body, locale=lang,
                                    attachments=[{"sha256": stored["sha256"], "name": document.filename,
                                                  "content_type": "application/pdf"}]))
            queued.append(reader.email)
    audit.record(session, actor=SYSTEM, action=MAILED, message=month, after={"month": month, "recipients": queued})
    log.info("monthly management report %s queued for %d readers", month, len(queued))
    return len(queued)
