"""Notifications: in-app rows and e-mails through an outbox.

Nothing here ever talks to a mail server inside a workflow transaction: the runtime hook
(:func:`notification_hook`) and the escalation ladder only insert ``notification`` and
``email_outbox`` rows, in the operation's own transaction (the hook logs and drops a failure
to work out its notifications rather than break the workflow). The rows are minimal and inserted in
bulk: a staff e-mail's outbox row holds its address and language but no text (empty
subject and body); :func:`drain_outbox`, a scheduler job, renders it from its notification
when it sends it and keeps what it sent on the row. It claims each row first
(compare-and-set) so two schedulers never send one twice, and retries failures with
exponential backoff until ``OUTBOX_MAX_ATTEMPTS``, when the row is marked ``failed`` with
its last error.

E-mails and the in-app texts come from ``templates/email/texts.<zh|en>.txt`` (macros
``subject`` and ``body``), chosen by the recipient's language.
"""

from __future__ import annotations

import functools
import logging
import smtplib
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple, Protocol
from uuid import UUID
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader
from sqlalchemy import Select, TextClause, and_, bindparam, func, insert, select, text, update
from sqlalchemy.orm import Session

from app.clock import clock, local_zone
from app.data.db import Database, rowcount
from app.data.models import (
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
from app.data.queries.people import departments_by_id
from app.data.types import UTCDateTime
from app.engine.context import Hook, RunContext
from app.engine.projection import elements_reached
from app.services import attachments as stored_files
from app.services.mail_message import Outgoing, SmtpClient, compose, send
from app.services.rounds import earlier_rounds, earlier_rounds_of, sent_back_by

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


class Addressee(Protocol):
    """What a notification needs of its recipient: a :class:`User`, or a :class:`Recipient`."""

    @property
    def id(self) -> int: ...

    @property
    def email(self) -> str | None: ...

    @property
    def locale(self) -> str: ...


class Recipient(NamedTuple):
    """A department member a notification goes to, read as plain columns (loading each as a
    :class:`User` entity cost more than the rest of working out the notifications)."""

    id: int
    email: str | None
    locale: str


#: the active members of some departments with their opt-outs of some kinds (none for an empty
#: list), by user id. Built once (building it anew cost as much CPU as running it), of the tables'
#: columns: a Core statement skips the ORM's per-execution set-up, and no entity is wanted.
_USERS, _MEMBERSHIPS, _OPT_OUTS = User.__table__, Membership.__table__, NotificationOptOut.__table__
_MEMBERS = (
    select(_USERS.c.id, _USERS.c.email, _USERS.c.locale, _MEMBERSHIPS.c.department_id,
           _OPT_OUTS.c.kind, _OPT_OUTS.c.channel)
    .select_from(_USERS.join(_MEMBERSHIPS, _MEMBERSHIPS.c.user_id == _USERS.c.id).outerjoin(
        _OPT_OUTS, and_(_OPT_OUTS.c.user_id == _USERS.c.id,
                        _OPT_OUTS.c.kind.in_(bindparam("kinds", expanding=True)))))
    .where(_MEMBERSHIPS.c.department_id.in_(bindparam("departments", expanding=True)), _USERS.c.active.is_(True))
    .order_by(_USERS.c.id)
)


def task_recipients(session: Session, task: HumanTask) -> list[Addressee]:
    """Who works on ``task``: its assignee, or else the members of its department."""
    return tasks_recipients(session, [task])[task.id]


def tasks_recipients(session: Session, tasks: Sequence[HumanTask],
                     opt_outs: OptOuts | None = None) -> dict[str, list[Addressee]]:
    """:func:`task_recipients` of several tasks, by task id: one query for all the departments,
    whose members come as :class:`Recipient` rows (an assignee as the session's :class:`User`).
    With ``opt_outs``, the same query fills it with the members' opt-outs of its kinds."""
    departments = {t.department_id for t in tasks if t.assignee_id is None and t.department_id is not None}
    members: dict[int, list[Addressee]] = {d: [] for d in departments}
    if departments:
        kinds = sorted(opt_outs.kinds) if opt_outs is not None else []
        if session.autoflush:  # as the ORM query this was did: pending rows flushed here, not later
            session.flush()
        seen: set[tuple[int, int]] = set()
        for user_id, email, locale, department_id, kind, channel in session.execute(
                _MEMBERS, {"departments": sorted(departments), "kinds": kinds}):
            if opt_outs is not None:
                opt_outs.users.add(user_id)
                if kind is not None:
                    opt_outs.found.add((user_id, kind, channel))
            if (user_id, department_id) not in seen:
                seen.add((user_id, department_id))
                members[department_id].append(Recipient(user_id, email, locale))
    found: dict[str, list[Addressee]] = {}
    for task in tasks:
        if task.assignee_id is not None:
            user = session.get(User, task.assignee_id)
            found[task.id] = [user] if user is not None and user.active else []
        else:
            found[task.id] = list(members.get(task.department_id, [])) if task.department_id is not None else []
    return found


# ------------------------------------------------------------------------------ texts


def task_params(session: Session, task: HumanTask, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    departments = departments_by_id(session)
    department = departments.get(task.department_id) if task.department_id else None
    about_id = (task.context or {}).get("about_department_id")
    about = departments.get(about_id) if about_id else None  # whose work it is (e.g. one 8D)
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


def user_locale(user: Addressee | None) -> str:
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


#: the notification texts, rendered without Flask: the outbox sender renders them outside requests
_TEXTS = Environment(loader=FileSystemLoader(Path(__file__).resolve().parents[1] / "templates" / "email"),
                     autoescape=False, auto_reload=False)  # noqa: S701 - plain-text e-mails, not HTML


def _texts(locale: str, macro: str) -> Any:
    return getattr(_TEXTS.get_template(f"texts.{locale}.txt").module, macro)


def render_subject(kind: str, params: Mapping[str, Any], locale: str, timezone: str | None = None) -> str:
    """The one-line text of a notification (its e-mail subject and its line in the list)."""
    due = local_time(params.get("due_at"), timezone)
    return " ".join(str(_texts(locale, "subject")(kind, params, due)).split())


def render_body(kind: str, params: Mapping[str, Any], locale: str, timezone: str | None, link: str,
                name: str) -> str:
    due = local_time(params.get("due_at"), timezone)
    return str(_texts(locale, "body")(kind, params, due, link, name)).strip() + "\n"


def _base_url(config: Mapping[str, Any] | None) -> str:
    if config is None:
        from flask import current_app, has_app_context

        if not has_app_context():
            return ""
        config = current_app.config
    return str(config.get("BASE_URL") or "").rstrip("/")


def task_link(task_id: str | None, config: Mapping[str, Any] | None = None) -> str:
    base = _base_url(config)
    return f"{base}/tasks/{task_id}" if task_id else f"{base}/notifications/"


def case_link(case_id: int, config: Mapping[str, Any] | None = None) -> str:
    return f"{_base_url(config)}/cases/{case_id}"


# ------------------------------------------------------------------------------ creating


def opted_out(session: Session, user_ids: Iterable[int], kinds: Iterable[str],
              known: OptOuts | None = None) -> set[tuple[int, str, str]]:
    """``(user id, kind, channel)`` of the given users' opt-outs of the given kinds; those of
    the users ``known`` already holds (for all these kinds) are taken from it."""
    ids, wanted = sorted(set(user_ids)), sorted(set(kinds))
    if not ids or not wanted:
        return set()
    found: set[tuple[int, str, str]] = set()
    if known is not None and known.kinds.issuperset(wanted):
        found = {entry for entry in known.found if entry[0] in ids and entry[1] in wanted}
        ids = [user_id for user_id in ids if user_id not in known.users]
        if not ids:
            return found
    return found | set(session.execute(  # type: ignore[arg-type]  # rows are tuples
        select(NotificationOptOut.user_id, NotificationOptOut.kind, NotificationOptOut.channel)
        .where(NotificationOptOut.user_id.in_(ids), NotificationOptOut.kind.in_(wanted))
    ).all())


@dataclass
class OptOuts:
    """Opt-outs of ``kinds`` read along with the recipients: ``found`` as ``(user id, kind,
    channel)``, complete for the ``users`` listed."""

    kinds: frozenset[str]
    users: set[int] = field(default_factory=set)
    found: set[tuple[int, str, str]] = field(default_factory=set)


#: the kinds a notification about an opened task has
TASK_KINDS = frozenset((NotificationKind.NEW_TASK, NotificationKind.ASSIGNED, NotificationKind.REWORK))


#: one notice to send: to whom, what kind, about which task, extra text parameters
Notice = tuple[Sequence[Addressee], str, HumanTask, Mapping[str, Any] | None]


def notify(session: Session, users: Sequence[Addressee], kind: str, task: HumanTask,
           extra: Mapping[str, Any] | None = None) -> int:
    """In-app notifications and queued e-mails for ``users``, respecting their opt-outs;
    how many notifications."""
    return notify_many(session, [(users, kind, task, extra)])


@dataclass
class Batch:
    """Notifications ready to insert: their rows, and who of them gets an e-mail."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    mail_to: dict[tuple[int, str, str], Addressee] = field(default_factory=dict)

    def insert(self, session: Session) -> int:
        """One INSERT for all the notifications (returning their ids) and one for all the outbox
        rows, without their text (the sender renders it); returns how many notifications."""
        if not self.rows:
            return 0
        session.flush()  # the task rows the notifications refer to
        # executemany of one cached statement: SQLAlchemy sends it as one multi-row INSERT
        if not self.mail_to:
            session.execute(insert(Notification), self.rows)
            return len(self.rows)
        now = self.rows[0]["created_at"]
        if session.get_bind().dialect.name == "postgresql":
            self._insert_together(session, now)
            return len(self.rows)
        created = session.execute(insert(Notification).returning(
            Notification.id, Notification.user_id, Notification.kind, Notification.task_id), self.rows).all()
        session.execute(insert(EmailOutbox), [
            {"notification_id": note_id, "case_id": None, "kind": None, "to_address": recipient.email,
             "subject": "", "body": "", "locale": user_locale(recipient), "status": OutboxStatus.PENDING,
             "attempts": 0, "next_attempt_at": now, "last_error": None, "created_at": now, "sent_at": None}
            for note_id, user_id, kind, task_id in created
            if (recipient := self.mail_to.get((user_id, kind, task_id))) is not None
        ])
        return len(self.rows)


    def _insert_together(self, session: Session, now: datetime) -> None:
        """PostgreSQL: the notifications and their outbox rows in one statement — the outbox rows
        selected from the notifications' INSERT … RETURNING (a data-modifying CTE), joined to
        the addresses by (user, kind, task). Text cached per number of rows: SQLAlchemy has no
        cache key for multi-row VALUES, so the construct was compiled anew on every completion."""
        params: dict[str, Any] = {"pending": OutboxStatus.PENDING, "now": now}
        for i, row in enumerate(self.rows):
            params.update({f"{name}_{i}": row[name] for name in _NOTE_COLUMNS})
        for j, ((user_id, kind, task_id), user) in enumerate(self.mail_to.items()):
            params.update({f"m_user_{j}": user_id, f"m_kind_{j}": kind, f"m_task_{j}": task_id,
                           f"m_to_{j}": user.email, f"m_locale_{j}": user_locale(user)})
        session.execute(_together(len(self.rows), len(self.mail_to)), params)


_NOTE_COLUMNS = ("user_id", "kind", "task_id", "case_id", "case_number", "params", "in_app", "created_at")


_TOGETHER = """
WITH notes AS (
    INSERT INTO notification (user_id, kind, task_id, case_id, case_number, params, in_app, created_at)
    VALUES {notes}
    RETURNING notification.id, notification.user_id, notification.kind, notification.task_id
)
INSERT INTO email_outbox (notification_id, to_address, subject, body, locale, status, attempts, next_attempt_at,
                          created_at)
SELECT notes.id, mail.to_address, '', '', mail.locale, CAST(:pending AS VARCHAR), 0,
       CAST(:now AS TIMESTAMP WITHOUT TIME ZONE), CAST(:now AS TIMESTAMP WITHOUT TIME ZONE)
FROM notes JOIN (VALUES {mails}) AS mail (user_id, kind, task_id, to_address, locale)
    ON notes.user_id = mail.user_id AND notes.kind = mail.kind AND mail.task_id IS NOT DISTINCT FROM notes.task_id
"""


@functools.lru_cache(maxsize=256)
def _together(notes: int, mails: int) -> TextClause:
    """The statement of :meth:`Batch._insert_together` for ``notes`` notifications and ``mails``
    addresses."""
    note_rows = ", ".join(
        f"(CAST(:user_id_{i} AS INTEGER), CAST(:kind_{i} AS VARCHAR), CAST(:task_id_{i} AS VARCHAR), "
        f"CAST(:case_id_{i} AS INTEGER), CAST(:case_number_{i} AS VARCHAR), CAST(:params_{i} AS JSONB), "
        f":in_app_{i}, CAST(:created_at_{i} AS TIMESTAMP WITHOUT TIME ZONE))" for i in range(notes))
    mail_rows = ", ".join(
        f"(CAST(:m_user_{j} AS INTEGER), CAST(:m_kind_{j} AS VARCHAR), CAST(:m_task_{j} AS VARCHAR), "
        f"CAST(:m_to_{j} AS VARCHAR), CAST(:m_locale_{j} AS VARCHAR))" for j in range(mails))
    sql = _TOGETHER.format(notes=note_rows, mails=mail_rows)
    params_type, instant = Notification.__table__.c.params.type, UTCDateTime()
    return text(sql).bindparams(
        *(bindparam(f"params_{i}", type_=params_type) for i in range(notes)),
        *(bindparam(f"created_at_{i}", type_=instant) for i in range(notes)),
        bindparam("now", type_=instant),
    )


def plan(session: Session, notices: Sequence[Notice], known: OptOuts | None = None) -> Batch:
    """The notifications of ``notices`` (one query for the opt-outs, none for those ``known``
    holds), not inserted yet."""
    batch = Batch()
    wanted = [(list({u.id: u for u in users if u is not None}.values()), kind, task, extra)
              for users, kind, task, extra in notices]
    wanted = [notice for notice in wanted if notice[0]]
    if not wanted:
        return batch
    skip = opted_out(session, (u.id for users, *_ in wanted for u in users), (kind for _, kind, *_ in wanted), known)
    now = clock.now()
    for users, kind, task, extra in wanted:
        params = task_params(session, task, extra)
        for user in users:
            in_app = (user.id, kind, "in_app") not in skip
            email = bool(user.email) and (user.id, kind, "email") not in skip
            if not in_app and not email:
                continue
            batch.rows.append({"user_id": user.id, "kind": kind, "task_id": task.id, "case_id": task.case_id,
                               "case_number": task.case_number, "params": params, "in_app": in_app,
                               "created_at": now})
            if email:
                batch.mail_to[(user.id, kind, task.id)] = user
    return batch


def notify_many(session: Session, notices: Sequence[Notice]) -> int:
    """:func:`notify` for several notices at once (:func:`plan`, then :meth:`Batch.insert`)."""
    return plan(session, notices).insert(session)


def notify_users(session: Session, users: Sequence[User], kind: str, params: Mapping[str, Any], link: str,
                 task_id: str | None = None, case_id: int | None = None,
                 case_number: str | None = None) -> list[Notification]:
    """Notifications of ``kind`` that are not about an opened task (a mention, an early-warning
    alert): rare, so the e-mail is rendered now from ``params``, pointing at ``link``; active
    users only, opt-outs respected."""
    unique = list({u.id: u for u in users if u is not None and u.active}.values())
    if not unique:
        return []
    params = dict(params)
    skip = opted_out(session, (u.id for u in unique), (kind,))
    now = clock.now()
    created = []
    for user in unique:
        in_app = (user.id, kind, "in_app") not in skip
        email = bool(user.email) and (user.id, kind, "email") not in skip
        if not in_app and not email:
            continue
        note = Notification(user_id=user.id, kind=kind, task_id=task_id, case_id=case_id, case_number=case_number,
                            params=params, in_app=in_app, created_at=now)
        session.add(note)
        created.append(note)
        if email:
            locale = user_locale(user)
            subject = render_subject(kind, params, locale, user.timezone)
            body = render_body(kind, params, locale, user.timezone, link, user.display_name)
            session.flush()
            session.add(EmailOutbox(
                notification_id=note.id, to_address=user.email, subject=subject[:300], body=body, locale=locale,
                status=OutboxStatus.PENDING, attempts=0, next_attempt_at=now, created_at=now,
            ))
    return created


def notify_about_case(session: Session, users: Sequence[User], kind: str, case_id: int, case_number: str | None,
                      params: Mapping[str, Any]) -> list[Notification]:
    """:func:`notify_users` about a case (a comment that mentions someone): opening one shows the case."""
    return notify_users(session, users, kind, params, case_link(case_id), case_id=case_id, case_number=case_number)


def is_rework(session: Session, task: HumanTask) -> bool:
    """Whether the instance completed this step (for the same department) before."""
    return bool(earlier_rounds(session, task))


def reworked_tasks(session: Session, tasks: Sequence[HumanTask]) -> set[str]:
    """The ids of those of ``tasks`` that are reworks (:func:`is_rework`), in one query."""
    return earlier_rounds_of(session, tasks)


def rework_params(session: Session, task: HumanTask,
                  just_completed: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """Why and by whom a reworked task was sent back (empty when unknown)."""
    back = sent_back_by(session, task, just_completed)
    if back is None:
        return {}
    user = session.get(User, back.by_id) if back.by_id else None
    return {"reason": back.reason[:500], "sent_back_by": user.display_name if user else ""}


def notify_opened(session: Session, opened: Sequence[HumanTask],
                  just_completed: Mapping[str, Mapping[str, Any]] | None = None,
                  workflow: Any = None) -> Batch | DepartmentNotices:
    """The notifications about the tasks an operation opened, ready to insert; ``just_completed``:
    the data of the tasks it completed, by id (their completion is recorded after this runs);
    ``workflow``: the instance's workflow, which tells which tasks cannot be reworks. On
    PostgreSQL, when every task is its department's (no assignee), who gets what is worked out
    by the statement that inserts them (:class:`DepartmentNotices`)."""
    tasks = [task for task in opened if task.state == TaskState.OPEN]
    if not tasks:
        return Batch()
    maybe = tasks if workflow is None else _reached_before(workflow, tasks)
    reworked = reworked_tasks(session, maybe) if maybe else set()
    if session.get_bind().dialect.name == "postgresql" and all(task.assignee_id is None for task in tasks):
        if session.autoflush:  # where reading the recipients flushed the pending rows
            session.flush()
        kinds = [(task, *_kind_of(session, task, reworked, just_completed)) for task in tasks]
        found = DepartmentNotices(now=clock.now())
        # a task without a department has no recipients
        found.notes = [(task, kind, task_params(session, task, extra))
                       for task, kind, extra in kinds if task.department_id is not None]
        return found
    known = OptOuts(TASK_KINDS)
    recipients = tasks_recipients(session, tasks, known)
    notices: list[Notice] = []
    for task in tasks:
        kind, extra = _kind_of(session, task, reworked, just_completed)
        notices.append((recipients[task.id], kind, task, extra))
    return plan(session, notices, known)


def _kind_of(session: Session, task: HumanTask, reworked: set[str],
             just_completed: Mapping[str, Mapping[str, Any]] | None) -> tuple[str, dict[str, Any]]:
    """The kind of notification about an opened task, and its extra text parameters."""
    if task.id in reworked:
        return NotificationKind.REWORK, rework_params(session, task, just_completed)
    if task.assignee_id is not None:
        return NotificationKind.ASSIGNED, {}
    return NotificationKind.NEW_TASK, {}


@dataclass
class DepartmentNotices:
    """PostgreSQL: notifications about department tasks (kind and text parameters per task),
    inserted by one statement that also works out who gets them — :func:`plan`'s rules in SQL:
    the department's active members, in-app unless they opted out of it, an e-mail (outbox row)
    to a non-empty address unless they opted out of that, nothing for someone opted out of both
    — so the recipients' read is not a statement of its own."""

    now: datetime
    notes: list[tuple[HumanTask, str, dict[str, Any]]] = field(default_factory=list)

    def insert(self, session: Session) -> int:
        """Insert the notifications and their outbox rows; returns how many notifications."""
        if not self.notes:
            return 0
        session.flush()  # the task rows the notifications refer to
        params: dict[str, Any] = {"pending": OutboxStatus.PENDING, "now": self.now,
                                  "in_app": "in_app", "email": "email"}
        for i, (task, kind, note_params) in enumerate(self.notes):
            params.update({f"seq_{i}": i, f"task_id_{i}": task.id, f"kind_{i}": kind,
                           f"department_id_{i}": task.department_id, f"case_id_{i}": task.case_id,
                           f"case_number_{i}": task.case_number, f"params_{i}": note_params})
        return int(session.execute(_department_notices(len(self.notes)), params).scalar_one())


_DEPARTMENT_NOTICES = """
WITH tasks (seq, task_id, kind, department_id, case_id, case_number, params) AS (VALUES {tasks}),
recipients AS (
    SELECT tasks.seq, tasks.task_id, tasks.kind, tasks.case_id, tasks.case_number, tasks.params,
           user_account.id AS user_id, user_account.email,
           CASE WHEN user_account.locale IN ('zh', 'en') THEN user_account.locale ELSE 'zh' END AS locale,
           NOT EXISTS (SELECT 1 FROM notification_opt_out AS o WHERE o.user_id = user_account.id
                       AND o.kind = tasks.kind AND o.channel = CAST(:in_app AS VARCHAR)) AS in_app,
           COALESCE(user_account.email, '') <> '' AND NOT EXISTS (
               SELECT 1 FROM notification_opt_out AS o WHERE o.user_id = user_account.id
               AND o.kind = tasks.kind AND o.channel = CAST(:email AS VARCHAR)) AS by_mail
    FROM tasks JOIN membership ON membership.department_id = tasks.department_id
    JOIN user_account ON user_account.id = membership.user_id
    WHERE user_account.active
),
notes AS (
    INSERT INTO notification (user_id, kind, task_id, case_id, case_number, params, in_app, created_at)
    SELECT user_id, kind, task_id, case_id, case_number, params, in_app, CAST(:now AS TIMESTAMP WITHOUT TIME ZONE)
    FROM recipients WHERE in_app OR by_mail ORDER BY seq, user_id
    RETURNING notification.id, notification.user_id, notification.kind, notification.task_id
),
mails AS (
    INSERT INTO email_outbox (notification_id, to_address, subject, body, locale, status, attempts, next_attempt_at,
                              created_at)
    SELECT notes.id, recipients.email, '', '', recipients.locale, CAST(:pending AS VARCHAR), 0,
           CAST(:now AS TIMESTAMP WITHOUT TIME ZONE), CAST(:now AS TIMESTAMP WITHOUT TIME ZONE)
    FROM notes JOIN recipients ON recipients.user_id = notes.user_id AND recipients.kind = notes.kind
        AND recipients.task_id = notes.task_id
    WHERE recipients.by_mail
)
SELECT count(*) FROM notes
"""


@functools.lru_cache(maxsize=64)
def _department_notices(tasks: int) -> TextClause:
    """The statement of :meth:`DepartmentNotices.insert` for ``tasks`` tasks (text cached per
    number of tasks: a multi-row VALUES construct has no cache key)."""
    rows = ", ".join(
        f"(CAST(:seq_{i} AS INTEGER), CAST(:task_id_{i} AS VARCHAR), CAST(:kind_{i} AS VARCHAR), "
        f"CAST(:department_id_{i} AS INTEGER), CAST(:case_id_{i} AS INTEGER), "
        f"CAST(:case_number_{i} AS VARCHAR), CAST(:params_{i} AS JSONB))" for i in range(tasks))
    params_type, instant = Notification.__table__.c.params.type, UTCDateTime()
    return text(_DEPARTMENT_NOTICES.format(tasks=rows)).bindparams(
        *(bindparam(f"params_{i}", type_=params_type) for i in range(tasks)),
        bindparam("now", type_=instant),
    )


def _reached_before(workflow: Any, tasks: Sequence[HumanTask]) -> list[HumanTask]:
    """Those of ``tasks`` whose step the workflow has already been through: only they can have
    an earlier round, so only they are looked up."""
    reached = elements_reached(workflow, {task.element_id for task in tasks}, {task.id for task in tasks})
    return [task for task in tasks if task.element_id in reached]


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

    The rows are part of the operation's transaction. Working out who gets what only reads:
    whatever goes wrong there is logged and the operation goes on without notifications (no
    savepoint needed); the rows are then inserted in bulk (on PostgreSQL, department tasks'
    recipients are read by that INSERT: :class:`DepartmentNotices`). Nothing is rendered here:
    the outbox sender renders the e-mails.
    """

    def hook(session: Session, instance: Any, workflow: Any, ctx: RunContext) -> None:
        if not ctx.opened:
            return
        try:
            batch = notify_opened(session, ctx.opened, _completed_data(workflow, ctx.closed), workflow)
        except Exception:  # noqa: BLE001 - notifications never break the workflow
            log.exception("notifications for instance %s failed", instance.id)
            return
        batch.insert(session)

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


def bell(session: Session, user_id: int, limit: int) -> tuple[int, Sequence[Notification]]:
    """The header's bell: the user's unread count and latest notifications, in one statement (the
    count rides on each row; no rows means no notifications, so none unread)."""
    unread = (select(func.count(Notification.id))
              .where(Notification.user_id == user_id, Notification.read_at.is_(None), Notification.in_app.is_(True))
              .scalar_subquery())
    rows = session.execute(
        select(Notification, unread)
        .where(Notification.user_id == user_id, Notification.in_app.is_(True))
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .limit(limit)
    ).all()
    return (int(rows[0][1] or 0) if rows else 0), [row[0] for row in rows]


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
    smtp = SmtpClient(config.get("MAIL_SERVER", "127.0.0.1"), int(config.get("MAIL_PORT", 25)),
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


class _Queued(NamedTuple):
    """An outbox row to send, with what rendering a staff e-mail's text needs: its notification's
    kind (None when it is gone), parameters and task, and its user's time zone and name."""

    row: EmailOutbox
    kind: str | None
    params: Mapping[str, Any] | None
    task_id: str | None
    timezone: str | None
    name: str | None


def _texts_of(queued: _Queued, config: Mapping[str, Any]) -> tuple[str, str]:
    """The subject and body of an outbox row: as queued, or — a staff e-mail queued without its
    text — rendered now from its notification in the row's language."""
    row = queued.row
    if row.body:
        return row.subject, row.body
    if queued.kind is None:  # its notification was deleted before the e-mail went out
        raise ValueError("an e-mail without text whose notification is gone")
    params = queued.params or {}
    subject = render_subject(queued.kind, params, row.locale, queued.timezone)[:300]
    body = render_body(queued.kind, params, row.locale, queued.timezone, task_link(queued.task_id, config),
                       queued.name or "")
    return subject, body


#: the due rows of the outbox, oldest first
_DUE = (
    select(EmailOutbox.id)
    .where(EmailOutbox.status == OutboxStatus.PENDING, EmailOutbox.next_attempt_at <= bindparam("now"))
    .order_by(EmailOutbox.next_attempt_at, EmailOutbox.id)
    .limit(bindparam("limit"))
)
#: lease the due rows found: a row another sender leased (or sent) meanwhile no longer matches
_LEASE = (
    update(EmailOutbox)
    .where(EmailOutbox.id.in_(bindparam("ids", expanding=True)), EmailOutbox.status == OutboxStatus.PENDING,
           EmailOutbox.next_attempt_at <= bindparam("now"))
    .values(next_attempt_at=bindparam("lease"))
    .returning(EmailOutbox.id)
)
#: the leased rows with what their texts need, in one statement
_QUEUED = (
    select(EmailOutbox, Notification.kind, Notification.params, Notification.task_id,
           User.timezone, User.display_name)
    .outerjoin(Notification, Notification.id == EmailOutbox.notification_id)
    .outerjoin(User, User.id == Notification.user_id)
    .where(EmailOutbox.id.in_(bindparam("ids", expanding=True)))
)
#: what was sent, recorded as soon as the server took it
_SENT = (
    update(EmailOutbox)
    .where(EmailOutbox.id == bindparam("outbox_id"))
    .values(status=OutboxStatus.SENT, subject=bindparam("subject"), body=bindparam("body"),
            sent_at=bindparam("sent_at"), attempts=EmailOutbox.attempts + 1, last_error=None)
)


def _lease(database: Database, now: datetime, lease: datetime, limit: int) -> list[int]:
    """Lease up to ``limit`` due rows (one transaction, two statements); their ids, oldest first."""
    with database.transaction() as session:
        due = list(session.scalars(_DUE, {"now": now, "limit": limit}))
        if not due:
            return []
        leased = set(session.scalars(_LEASE, {"ids": due, "now": now, "lease": lease}))
    return [outbox_id for outbox_id in due if outbox_id in leased]


def _queued(database: Database, claimed: Sequence[int]) -> dict[int, _Queued]:
    with database.session() as session:
        return {row.id: _Queued(row, *texts) for row, *texts in session.execute(_QUEUED, {"ids": list(claimed)})}


def _outgoing(row: EmailOutbox, subject: str, body: str, config: Mapping[str, Any]) -> Outgoing:
    attachments = []
    for item in row.attachments or []:  # e.g. the monthly management report's PDF
        path = stored_files.path_for(str(config.get("UPLOAD_DIR") or ""), str(item.get("sha256") or ""))
        if path is None:
            raise FileNotFoundError(f"attachment {item.get('name')!r} is not in the upload store")
        attachments.append((str(item.get("name") or "attachment"),
                            str(item.get("content_type") or "application/octet-stream"), path.read_bytes()))
    return compose(sender=config.get("MAIL_SENDER", "feedback@example.com"), to_address=row.to_address,
                   subject=subject, body=body, locale=row.locale, sent_at=clock.now(), attachments=attachments)


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
    lease = now + timedelta(seconds=float(config.get("OUTBOX_LEASE_SECONDS", 300)))
    claimed = _lease(database, now, lease, limit)
    if not claimed:
        return 0, 0
    sent = failed = 0
    try:
        smtp = _connect(config)
    except Exception as exc:  # noqa: BLE001 - the server is down: every claimed row waits
        for outbox_id in claimed:
            _record_failure(database, outbox_id, exc, config)
        return 0, len(claimed)
    marks = None
    try:
        # one connection marks the batch's e-mails sent, each UPDATE committed as it runs
        # (autocommit: no BEGIN and COMMIT round trips around it): a connection checked out (and
        # pinged) per e-mail cost as much as the e-mail's message
        marks = database.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        queued = _queued(database, claimed)
        for outbox_id in claimed:
            try:
                item = queued[outbox_id]
                subject, body = _texts_of(item, config)
                outgoing = _outgoing(item.row, subject, body, config)
            except Exception as exc:  # noqa: BLE001 - a text that cannot be rendered is a failed attempt
                log.exception("cannot render e-mail %s", outbox_id)
                _record_failure(database, outbox_id, exc, config)
                failed += 1
                continue
            try:
                send(smtp, outgoing)
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
            # at once: a crash now must not send it again
            marks.execute(_SENT, {"outbox_id": outbox_id, "subject": subject, "body": body, "sent_at": clock.now()})
            sent += 1
    finally:
        if marks is not None:
            marks.close()
        try:
            smtp.quit()
        except Exception:  # noqa: BLE001
            smtp.close()
    return sent, failed


def drain_backlog(database: Database, config: Mapping[str, Any], budget_s: float,
                  batch: int = 50) -> tuple[int, int]:
    """Send the outbox's due e-mails batch after batch while a batch comes back full, no attempt
    failed and ``budget_s`` of wall time lasts (the scheduler gives it its interval): a backlog —
    a busy hour, a mail server back after an outage — goes out at the mail server's pace rather
    than one batch per interval. ``OUTBOX_MAX_PER_RUN`` (if set) caps the e-mails tried in one
    call, for a relay with a sending quota. Returns (sent, failed attempts) of all batches."""
    deadline = time.monotonic() + budget_s
    cap = int(config.get("OUTBOX_MAX_PER_RUN") or 0)
    sent = failed = 0
    while True:
        size = min(batch, cap - sent - failed) if cap else batch
        if size <= 0:
            return sent, failed
        batch_sent, batch_failed = drain_outbox(database, config, size)
        sent, failed = sent + batch_sent, failed + batch_failed
        if batch_failed or batch_sent < size or time.monotonic() >= deadline:
            return sent, failed


__all__ = [
    "bell",
    "department_heads",
    "department_members",
    "drain_backlog",
    "drain_outbox",
    "is_rework",
    "mark_read",
    "notification_hook",
    "notify",
    "notify_many",
    "opt_outs",
    "render_subject",
    "set_opt_outs",
    "task_recipients",
    "tasks_recipients",
    "unread_count",
    "user_notifications",
    "users_with_role",
]
