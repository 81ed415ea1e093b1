"""Notifications: in-app rows and e-mails through an outbox.

Nothing here ever talks to a mail server inside a workflow transaction: the runtime hook
(:func:`notification_hook`) and the escalation ladder only insert ``notification`` and
``email_outbox`` rows (the hook inside a SAVEPOINT, so a failure there is logged and
dropped without touching the workflow). :func:`drain_outbox`, a scheduler job, sends the
pending e-mails over SMTP, claiming each row first (compare-and-set) so two schedulers
never send one twice, and retrying failures with exponential backoff until
``OUTBOX_MAX_ATTEMPTS``, when the row is marked ``failed`` with its last error.

E-mails and the in-app texts come from ``templates/email/texts.<zh|en>.txt`` (macros
``subject`` and ``body``), chosen by the recipient's language.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from app.clock import clock, local_zone
from app.data.db import Database, rowcount
from app.data.models import (
    Department,
    EmailOutbox,
    HumanTask,
    Membership,
    Notification,
    NotificationOptOut,
    TaskState,
    User,
    UserRole,
)
from app.data.models.notifications import NotificationKind, OutboxStatus
from app.engine.context import Hook, RunContext
from app.services import attachments as stored_files
from app.services.rounds import earlier_rounds, sent_back_by

log = logging.getLogger(__name__)

CHANNELS = ("in_app", "email")
LOCALES = ("zh", "en")


# ------------------------------------------------------------------------------ recipients


def _active(stmt: Select[Any]) -> Select[Any]:
    return stmt.where(User.active.is_(True)).order_by(User.id)


def department_members(session: Session, department_id: int | None) -> list[User]:
    if department_id is None:
        return []
    return list(session.scalars(_active(
        select(User).join(Membership, Membership.user_id == User.id).where(Membership.department_id == department_id)
    )))


def department_heads(session: Session, department_id: int | None) -> list[User]:
    if department_id is None:
        return []
    return list(session.scalars(_active(
        select(User).join(Membership, Membership.user_id == User.id)
        .where(Membership.department_id == department_id, Membership.is_head.is_(True))
    )))


def users_with_role(session: Session, role: str) -> list[User]:
    return list(session.scalars(_active(
        select(User).join(UserRole, UserRole.user_id == User.id).where(UserRole.role == role)
    )))


def task_recipients(session: Session, task: HumanTask) -> list[User]:
    """Who works on ``task``: its assignee, or else the members of its department."""
    if task.assignee_id is not None:
        user = session.get(User, task.assignee_id)
        return [user] if user is not None and user.active else []
    return department_members(session, task.department_id)


# ------------------------------------------------------------------------------ texts


def task_params(session: Session, task: HumanTask, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    department = session.get(Department, task.department_id) if task.department_id else None
    about_id = (task.context or {}).get("about_department_id")
    about = session.get(Department, about_id) if about_id else None  # whose work it is (e.g. one 8D)
    params = {
        "title": f"{task.title} · {about.name_zh}" if about else task.title,
        "title_en": f"{task.title_en or task.title} · {about.name_en}" if about else task.title_en or task.title,
        "case_number": task.case_number,
        "customer_name": task.customer_name,
        "due_at": task.due_at.isoformat() if task.due_at else None,
        "department_zh": department.name_zh if department else None,
        "department_en": department.name_en if department else None,
    }
    params.update(extra or {})
    return params


def user_locale(user: User | None) -> str:
    locale = getattr(user, "locale", None)
    return locale if locale in LOCALES else "zh"


def local_time(value: str | datetime | None, timezone: str | None) -> str:
    """An ISO instant in the user's time zone as ``YYYY-MM-DD HH:MM``."""
    if not value:
        return ""
    instant = datetime.fromisoformat(value) if isinstance(value, str) else value
    try:
        zone = ZoneInfo(timezone) if timezone else local_zone()
    except (KeyError, ValueError):
        zone = local_zone()
    return instant.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _texts(locale: str, macro: str) -> Any:
    from flask import get_template_attribute

    return get_template_attribute(f"email/texts.{locale}.txt", macro)


def render_subject(kind: str, params: Mapping[str, Any], locale: str, timezone: str | None = None) -> str:
    """The one-line text of a notification (its e-mail subject and its line in the list)."""
    due = local_time(params.get("due_at"), timezone)
    return " ".join(str(_texts(locale, "subject")(kind, params, due)).split())


def render_body(kind: str, params: Mapping[str, Any], locale: str, timezone: str | None, link: str,
                name: str) -> str:
    due = local_time(params.get("due_at"), timezone)
    return str(_texts(locale, "body")(kind, params, due, link, name)).strip() + "\n"


def task_link(task_id: str | None) -> str:
    from flask import current_app, has_app_context

    base = str(current_app.config.get("BASE_URL") or "").rstrip("/") if has_app_context() else ""
    return f"{base}/tasks/{task_id}" if task_id else f"{base}/notifications/"


# ------------------------------------------------------------------------------ creating


def opted_out(session: Session, user_ids: Iterable[int], kind: str) -> set[tuple[int, str]]:
    ids = list(user_ids)
    if not ids:
        return set()
    return set(session.execute(  # type: ignore[arg-type]  # rows are tuples
        select(NotificationOptOut.user_id, NotificationOptOut.channel)
        .where(NotificationOptOut.user_id.in_(ids), NotificationOptOut.kind == kind)
    ).all())


def notify(session: Session, users: Sequence[User], kind: str, task: HumanTask,
           extra: Mapping[str, Any] | None = None) -> list[Notification]:
    """In-app notifications and queued e-mails for ``users`` about ``task``, respecting their opt-outs."""
    if not any(u is not None for u in users):
        return []
    return notify_users(session, users, kind, task_params(session, task, extra), task_link(task.id),
                        task_id=task.id, case_id=task.case_id, case_number=task.case_number)


def notify_users(session: Session, users: Sequence[User], kind: str, params: Mapping[str, Any], link: str,
                 task_id: str | None = None, case_id: int | None = None,
                 case_number: str | None = None) -> list[Notification]:
    """In-app notifications and queued e-mails of ``kind`` for ``users`` (texts from ``params``,
    the e-mail pointing at ``link``), respecting their opt-outs."""
    unique = list({u.id: u for u in users if u is not None}.values())
    if not unique:
        return []
    params = dict(params)
    skip = opted_out(session, (u.id for u in unique), kind)
    now = clock.now()
    created = []
    for user in unique:
        in_app = (user.id, "in_app") not in skip
        email = bool(user.email) and (user.id, "email") not in skip
        if not in_app and not email:
            continue
        note = Notification(
            user_id=user.id, kind=kind, task_id=task_id, case_id=case_id, case_number=case_number,
            params=params, in_app=in_app, created_at=now,
        )
        session.add(note)
        created.append(note)
        if email:
            locale = user_locale(user)
            try:
                subject = render_subject(kind, params, locale, user.timezone)
                body = render_body(kind, params, locale, user.timezone, link, user.display_name)
            except Exception:  # noqa: BLE001 - a template problem must not stop the workflow
                log.exception("cannot render the %s e-mail for user %s", kind, user.id)
                continue
            session.flush()
            session.add(EmailOutbox(
                notification_id=note.id, to_address=user.email, subject=subject[:300], body=body, locale=locale,
                status=OutboxStatus.PENDING, attempts=0, next_attempt_at=now, created_at=now,
            ))
    return created


def case_link(case_id: int) -> str:
    from flask import current_app

    return f"{str(current_app.config.get('BASE_URL') or '').rstrip('/')}/cases/{case_id}"


def notify_about_case(session: Session, users: Sequence[User], kind: str, case_id: int, case_number: str | None,
                      params: Mapping[str, Any]) -> list[Notification]:
    """In-app notifications and queued e-mails about a case rather than a task (a comment that
    mentions someone), respecting opt-outs; opening one shows the case."""
    unique = list({u.id: u for u in users if u is not None and u.active}.values())
    skip = opted_out(session, (u.id for u in unique), kind)
    now = clock.now()
    created = []
    for user in unique:
        in_app = (user.id, "in_app") not in skip
        email = bool(user.email) and (user.id, "email") not in skip
        if not in_app and not email:
            continue
        note = Notification(user_id=user.id, kind=kind, task_id=None, case_id=case_id, case_number=case_number,
                            params=dict(params), in_app=in_app, created_at=now)
        session.add(note)
        created.append(note)
        if email:
            locale = user_locale(user)
            subject = render_subject(kind, params, locale, user.timezone)
            body = render_body(kind, params, locale, user.timezone, case_link(case_id), user.display_name)
            session.flush()
            session.add(EmailOutbox(
                notification_id=note.id, to_address=user.email, subject=subject[:300], body=body, locale=locale,
                status=OutboxStatus.PENDING, attempts=0, next_attempt_at=now, created_at=now,
            ))
    return created


def is_rework(session: Session, task: HumanTask) -> bool:
    """Whether the instance completed this step (for the same department) before."""
    return bool(earlier_rounds(session, task))


def rework_params(session: Session, task: HumanTask,
                  just_completed: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """Why and by whom a reworked task was sent back (empty when unknown)."""
    back = sent_back_by(session, task, just_completed)
    if back is None:
        return {}
    user = session.get(User, back.by_id) if back.by_id else None
    return {"reason": back.reason[:500], "sent_back_by": user.display_name if user else ""}


def notify_opened(session: Session, opened: Sequence[HumanTask],
                  just_completed: Mapping[str, Mapping[str, Any]] | None = None) -> None:
    """Notify about the tasks an operation opened; ``just_completed``: the data of the tasks it
    completed, by id (their completion is recorded after this runs)."""
    for task in opened:
        if task.state != TaskState.OPEN:
            continue
        extra: dict[str, Any] = {}
        if is_rework(session, task):
            kind = NotificationKind.REWORK
            extra = rework_params(session, task, just_completed)
        elif task.assignee_id is not None:
            kind = NotificationKind.ASSIGNED
        else:
            kind = NotificationKind.NEW_TASK
        notify(session, task_recipients(session, task), kind, task, extra)


def _completed_data(workflow: Any, closed: Sequence[HumanTask]) -> dict[str, Mapping[str, Any]]:
    """The data of the tasks the operation completed, by id, read from the workflow."""
    found: dict[str, Mapping[str, Any]] = {}
    for row in closed:
        task = workflow.get_task_from_id(UUID(row.id)) if row.state == TaskState.COMPLETED else None
        if task is not None:
            found[row.id] = task.data
    return found


def notification_hook(app: Any) -> Hook:
    """Runtime hook: notify about the tasks this operation opened (new, assigned, rework).

    Runs in a SAVEPOINT: whatever goes wrong here is logged and rolled back alone, never the
    workflow transaction.
    """
    from flask import has_app_context

    def hook(session: Session, instance: Any, workflow: Any, ctx: RunContext) -> None:
        if not ctx.opened:
            return
        session.flush()
        try:
            done = _completed_data(workflow, ctx.closed)
            if has_app_context():
                with session.begin_nested():
                    notify_opened(session, ctx.opened, done)
            else:
                with app.app_context(), session.begin_nested():
                    notify_opened(session, ctx.opened, done)
        except Exception:  # noqa: BLE001 - notifications never break the workflow
            log.exception("notifications for instance %s failed", instance.id)

    return hook


# ------------------------------------------------------------------------------ reading


def unread_count(session: Session, user_id: int) -> int:
    return session.scalar(
        select(func.count(Notification.id)).where(
            Notification.user_id == user_id, Notification.read_at.is_(None), Notification.in_app.is_(True)
        )
    ) or 0


def user_notifications(session: Session, user_id: int, limit: int = 50, offset: int = 0) -> Sequence[Notification]:
    return session.scalars(
        select(Notification)
        .where(Notification.user_id == user_id, Notification.in_app.is_(True))
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .limit(limit).offset(offset)
    ).all()


def mark_read(session: Session, user_id: int, notification_id: int | None = None) -> int:
    """Mark one (or every) unread notification of the user read; returns how many."""
    stmt = update(Notification).where(Notification.user_id == user_id, Notification.read_at.is_(None))
    if notification_id is not None:
        stmt = stmt.where(Notification.id == notification_id)
    return rowcount(session.execute(stmt.values(read_at=clock.now()).execution_options(synchronize_session=False)))


def open_notification(session: Session, user_id: int, notification_id: int) -> Notification | None:
    """The user's notification, marked read (opening it reads it); None when it is not theirs."""
    note = session.get(Notification, notification_id)
    if note is None or note.user_id != user_id:
        return None
    mark_read(session, user_id, notification_id)
    return note


def opt_outs(session: Session, user_id: int) -> set[tuple[str, str]]:
    return set(session.execute(  # type: ignore[arg-type]  # rows are tuples
        select(NotificationOptOut.kind, NotificationOptOut.channel).where(NotificationOptOut.user_id == user_id)
    ).all())


def set_opt_outs(session: Session, user_id: int, chosen: Iterable[tuple[str, str]]) -> None:
    wanted = {(k, c) for k, c in chosen if k in NotificationKind.ALL and c in CHANNELS}
    current = opt_outs(session, user_id)
    for kind, channel in current - wanted:
        row = session.get(NotificationOptOut, (user_id, kind, channel))
        if row is not None:
            session.delete(row)
    for kind, channel in wanted - current:
        session.add(NotificationOptOut(user_id=user_id, kind=kind, channel=channel))
    session.flush()


# ------------------------------------------------------------------------------ sending


def _backoff(config: Mapping[str, Any], attempts: int) -> timedelta:
    base = float(config.get("OUTBOX_RETRY_SECONDS", 60))
    cap = float(config.get("OUTBOX_RETRY_MAX_SECONDS", 3600))
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), cap))


def _connect(config: Mapping[str, Any]) -> smtplib.SMTP:
    smtp = smtplib.SMTP(config.get("MAIL_SERVER", "127.0.0.1"), int(config.get("MAIL_PORT", 25)),
                        timeout=float(config.get("MAIL_TIMEOUT", 10)))
    try:
        if config.get("MAIL_USE_TLS"):
            smtp.starttls()
        if config.get("MAIL_USERNAME"):
            smtp.login(config["MAIL_USERNAME"], config.get("MAIL_PASSWORD") or "")
    except Exception:
        smtp.close()
        raise
    return smtp


def _message(row: EmailOutbox, config: Mapping[str, Any]) -> EmailMessage:
    message = EmailMessage()
    message["From"] = config.get("MAIL_SENDER", "feedback@example.com")
    message["To"] = row.to_address
    message["Subject"] = row.subject
    message["Message-ID"] = make_msgid(domain="feedback.local")
    message.set_content(row.body)
    # after set_content, which drops any Content-* header set before it
    message["Content-Language"] = "zh-CN" if row.locale == "zh" else "en"
    for item in row.attachments or []:  # e.g. the monthly management report's PDF
        path = stored_files.path_for(str(config.get("UPLOAD_DIR") or ""), str(item.get("sha256") or ""))
        if path is None:
            raise FileNotFoundError(f"attachment {item.get('name')!r} is not in the upload store")
        maintype, _sep, subtype = str(item.get("content_type") or "application/octet-stream").partition("/")
        message.add_attachment(path.read_bytes(), maintype=maintype, subtype=subtype or "octet-stream",
                               filename=str(item.get("name") or "attachment"))
    return message


def _record_failure(database: Database, outbox_id: int, error: BaseException, config: Mapping[str, Any]) -> bool:
    """Count a failed attempt; returns True when the row has now failed for good."""
    max_attempts = int(config.get("OUTBOX_MAX_ATTEMPTS", 8))
    with database.transaction() as session:
        row = session.get_one(EmailOutbox, outbox_id)
        row.attempts += 1
        row.last_error = f"{type(error).__name__}: {error}"[:1000]
        if row.attempts >= max_attempts:
            row.status = OutboxStatus.FAILED
            log.error("e-mail %s to %s failed for good: %s", row.id, row.to_address, row.last_error)
            return True
        row.next_attempt_at = clock.now() + _backoff(config, row.attempts)
        log.warning("e-mail %s to %s not sent (attempt %s), retry at %s: %s", row.id, row.to_address,
                    row.attempts, row.next_attempt_at.isoformat(), row.last_error)
    return False


def drain_outbox(database: Database, config: Mapping[str, Any], limit: int = 50) -> tuple[int, int]:
    """Send due e-mails of the outbox; returns (sent, failed attempts)."""
    now = clock.now()
    with database.session() as session:
        candidates = session.scalars(
            select(EmailOutbox.id)
            .where(EmailOutbox.status == OutboxStatus.PENDING, EmailOutbox.next_attempt_at <= now)
            .order_by(EmailOutbox.next_attempt_at, EmailOutbox.id)
            .limit(limit)
        ).all()
    lease = now + timedelta(seconds=float(config.get("OUTBOX_LEASE_SECONDS", 300)))
    claimed: list[int] = []
    for outbox_id in candidates:
        with database.transaction() as session:
            result = session.execute(
                update(EmailOutbox)
                .where(EmailOutbox.id == outbox_id, EmailOutbox.status == OutboxStatus.PENDING,
                       EmailOutbox.next_attempt_at <= now)
                .values(next_attempt_at=lease)
                .execution_options(synchronize_session=False)
            )
            if rowcount(result) == 1:
                claimed.append(outbox_id)
    if not claimed:
        return 0, 0
    sent = failed = 0
    try:
        smtp = _connect(config)
    except Exception as exc:  # noqa: BLE001 - the server is down: every claimed row waits
        for outbox_id in claimed:
            _record_failure(database, outbox_id, exc, config)
        return 0, len(claimed)
    try:
        for outbox_id in claimed:
            with database.session() as session:
                row = session.get_one(EmailOutbox, outbox_id)
                message = _message(row, config)
            try:
                smtp.send_message(message)
            except Exception as exc:  # noqa: BLE001
                _record_failure(database, outbox_id, exc, config)
                failed += 1
                if isinstance(exc, smtplib.SMTPServerDisconnected | OSError):
                    try:
                        smtp.close()
                        smtp = _connect(config)
                    except Exception:  # noqa: BLE001 - the rest waits for the next round
                        for rest in claimed[claimed.index(outbox_id) + 1:]:
                            _record_failure(database, rest, exc, config)
                            failed += 1
                        return sent, failed
                continue
            with database.transaction() as session:
                row = session.get_one(EmailOutbox, outbox_id)
                row.status = OutboxStatus.SENT
                row.sent_at = clock.now()
                row.attempts += 1
                row.last_error = None
            sent += 1
    finally:
        try:
            smtp.quit()
        except Exception:  # noqa: BLE001
            smtp.close()
    return sent, failed


__all__ = [
    "department_heads",
    "department_members",
    "drain_outbox",
    "is_rework",
    "mark_read",
    "notification_hook",
    "notify",
    "opt_outs",
    "render_subject",
    "set_opt_outs",
    "task_recipients",
    "unread_count",
    "user_notifications",
    "users_with_role",
]
