"""Settings an administrator changes at run time, kept in ``app_setting`` (key → JSON value).

Only one so far: the basis of the logistics split of the weekly assessment
(:data:`LOGISTICS_BASIS`), read when a week's assessment starts; an absent or unknown value
means the default, :data:`app.services.assessment_math.DEFAULT_BASIS`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.clock import clock
from app.data.models import AppSetting
from app.engine import audit
from app.engine.context import Actor
from app.i18n import N_
from app.services.assessment_math import BASES, DEFAULT_BASIS
from app.services.errors import InvalidInput

LOGISTICS_BASIS = "assessment.logistics_basis"
#: e-mail the management report of the month before to the General Manager and the department heads
MONTHLY_REPORT = "reports.monthly_email"


def logistics_basis(session: Session) -> str:
    """The basis new weekly assessments split logistics costs on (``total_cost`` or ``per_share``)."""
    row = session.get(AppSetting, LOGISTICS_BASIS)
    value = row.value if row is not None else None
    return value if value in BASES else DEFAULT_BASIS


def setting_row(session: Session, key: str) -> AppSetting | None:
    """The stored setting (who changed it and when), or None while it has its default."""
    return session.get(AppSetting, key)


def set_logistics_basis(session: Session, basis: str, actor: Actor) -> None:
    """Make ``basis`` the basis of the assessments started from now on (running ones keep theirs)."""
    if basis not in BASES:
        raise InvalidInput(N_("Unknown logistics split basis."))
    change(session, LOGISTICS_BASIS, basis, actor, default=DEFAULT_BASIS)


def monthly_report_enabled(session: Session) -> bool:
    """Whether the scheduler e-mails the monthly management report (off until an admin turns it on)."""
    row = session.get(AppSetting, MONTHLY_REPORT)
    return bool(row is not None and row.value is True)


def set_monthly_report(session: Session, enabled: bool, actor: Actor) -> None:
    change(session, MONTHLY_REPORT, bool(enabled), actor, default=False)


def change(session: Session, key: str, value: Any, actor: Actor, default: Any = None) -> AppSetting:
    """Store a setting and audit the change (``setting_changed``, the value before and after;
    the default stands for an absent row)."""
    row = session.get(AppSetting, key)
    before = row.value if row is not None else default
    row = row or AppSetting(key=key)
    row.value = value
    row.updated_by_id = actor.id
    row.updated_at = clock.now()
    session.add(row)
    if before != value:
        audit.record(session, actor=actor, action="setting_changed", element=key, message=key,
                     before={key: before}, after={key: value})
    return row


__all__ = ["LOGISTICS_BASIS", "MONTHLY_REPORT", "change", "logistics_basis", "monthly_report_enabled",
           "set_logistics_basis", "set_monthly_report", "setting_row"]
