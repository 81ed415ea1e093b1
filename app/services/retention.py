"""Retention: how long attachments and closed cases are kept (an admin setting, audited like
every setting), what is due, and removing it — only when an administrator applies it after
reviewing the list, each removal an audit event. Nothing is deleted on a timer, and the audit
trail is never touched: its events keep the case's id and what happened.

- *Attachments* of a case closed more than ``attachments_days`` ago: the stored file is
  deleted (its name stays in the case data, its download answers "not found"). A file with the
  same content that a case not yet due also uses is kept.
- *Closed cases* more than ``closed_cases_days`` ago, once none of their processes (e.g. a
  corrective-action tracking) still runs: the case row, its process instances and their tasks
  are deleted; the audit event keeps what the case was (number, customer, dates).

Absent settings mean "keep for ever".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session

from app.clock import clock
from app.data.models import AppSetting, Case, InstanceStatus, ProcessInstance, User
from app.engine import audit
from app.i18n import N_
from app.services import accounts, policy, settings
from app.services.attachments import path_for
from app.services.errors import InvalidInput

ATTACHMENTS_DAYS = "retention.attachments_days"
CLOSED_CASES_DAYS = "retention.closed_cases_days"
MIN_DAYS, MAX_DAYS = 30, 36500
LIST_LIMIT = 200  # cases shown on the review page (all due ones are applied)


@dataclass(frozen=True)
class Retention:
    attachments_days: int | None = None
    closed_cases_days: int | None = None


def current(session: Session) -> Retention:
    def days(key: str) -> int | None:
        row = session.get(AppSetting, key)
        value = row.value if row is not None else None
        return value if isinstance(value, int) and MIN_DAYS <= value <= MAX_DAYS else None

    return Retention(days(ATTACHMENTS_DAYS), days(CLOSED_CASES_DAYS))


def set_retention(session: Session, user: User, attachments_days: int | None, closed_cases_days: int | None) -> None:
    """Store both periods (None: keep for ever); each change is audited as a setting."""
    policy.require(policy.may_administer(user), N_("Only administrators may change the retention periods."))
    for value in (attachments_days, closed_cases_days):
        if value is not None and not MIN_DAYS <= value <= MAX_DAYS:
            raise InvalidInput(N_("A retention period is between 30 and 36500 days, or empty to keep for ever."))
    actor = accounts.actor(user)
    settings.change(session, ATTACHMENTS_DAYS, attachments_days, actor)
    settings.change(session, CLOSED_CASES_DAYS, closed_cases_days, actor)


@dataclass
class Due:
    cases: list[Case] = field(default_factory=list)
    #: (case, file descriptor) whose stored file is due for deletion
    files: list[tuple[Case, dict[str, Any]]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.cases and not self.files


def _closed_before(session: Session, cutoff: datetime) -> list[Case]:
    running = exists().where(ProcessInstance.case_id == Case.id,
                             ProcessInstance.status.in_((InstanceStatus.RUNNING, InstanceStatus.INCIDENT)))
    return list(session.scalars(select(Case).where(Case.status == "closed", Case.closed_at.is_not(None),
                                                   Case.closed_at < cutoff, ~running).order_by(Case.closed_at)))


def due(session: Session, upload_dir: str | Path, now: datetime | None = None) -> Due:
    """What the current periods make due (nothing while a period is not set)."""
    from app.services.public import attachment_references, case_attachments

    now = now or clock.now()
    rules, result = current(session), Due()
    if rules.closed_cases_days is not None:
        result.cases = _closed_before(session, now - timedelta(days=rules.closed_cases_days))
    if rules.attachments_days is not None:
        old = _closed_before(session, now - timedelta(days=rules.attachments_days))
        old_ids = {case.id for case in old}
        for case in old:
            for item in case_attachments(session, case):
                if path_for(upload_dir, item["id"]) is None:
                    continue  # already gone
                users = {owner.id for owner, _d in attachment_references(session, item["id"])}
                if users <= old_ids:
                    result.files.append((case, item))
    return result


def _summary(case: Case) -> dict[str, Any]:
    return {"number": case.number, "customer_name": case.customer_name, "feedback_type": case.feedback_type,
            "received_at": case.received_at, "closed_at": case.closed_at}


def apply(session: Session, user: User, upload_dir: str | Path, now: datetime | None = None) -> Due:
    """Remove what is due, each removal audited (``retention_applied``) in this transaction. The
    files go only after the caller has committed (:func:`delete_files`), so a failed commit
    deletes nothing."""
    policy.require(policy.may_administer(user), N_("Only administrators may apply the retention periods."))
    actor, rules = accounts.actor(user), current(session)
    found = due(session, upload_dir, now)
    for case, item in found.files:
        audit.record(session, actor=actor, action="retention_applied", case_id=case.id,
                     message=f"{case.number}: attachment {item['name']} deleted "
                             f"(kept {rules.attachments_days} days after closing)",
                     before={"file": {k: item[k] for k in ("id", "name", "size", "content_type")}})
    for case in found.cases:
        instances = list(session.scalars(select(ProcessInstance.id).where(ProcessInstance.case_id == case.id)))
        audit.record(session, actor=actor, action="retention_applied", case_id=case.id,
                     message=f"{case.number}: closed case deleted (kept {rules.closed_cases_days} days after closing)",
                     before={**_summary(case), "process_instances": instances})
        session.execute(delete(ProcessInstance).where(ProcessInstance.case_id == case.id))
        session.delete(case)
    session.flush()
    return found


def delete_files(upload_dir: str | Path, found: Due) -> int:
    """Delete the stored files of an applied :class:`Due` (after its transaction committed)."""
    deleted = 0
    for file_id in {item["id"] for _case, item in found.files}:
        path = path_for(upload_dir, file_id)
        if path is not None:
            path.unlink(missing_ok=True)
            deleted += 1
    return deleted


__all__ = ["ATTACHMENTS_DAYS", "CLOSED_CASES_DAYS", "Due", "Retention", "apply", "current", "delete_files", "due",
           "set_retention"]
