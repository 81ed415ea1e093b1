"""Settings an administrator changes at run time, kept in ``app_setting`` (key → JSON value).

Only one so far: the basis of the logistics split of the weekly assessment
(:data:`LOGISTICS_BASIS`), read when a week's assessment starts; an absent or unknown value
means the default, :data:`app.services.assessment_math.DEFAULT_BASIS`.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.clock import clock
from app.data.models import AppSetting
from app.i18n import N_
from app.services.assessment_math import BASES, DEFAULT_BASIS
from app.services.errors import InvalidInput

LOGISTICS_BASIS = "assessment.logistics_basis"


def logistics_basis(session: Session) -> str:
    """The basis new weekly assessments split logistics costs on (``total_cost`` or ``per_share``)."""
    row = session.get(AppSetting, LOGISTICS_BASIS)
    value = row.value if row is not None else None
    return value if value in BASES else DEFAULT_BASIS


def setting_row(session: Session, key: str) -> AppSetting | None:
    """The stored setting (who changed it and when), or None while it has its default."""
    return session.get(AppSetting, key)


def set_logistics_basis(session: Session, basis: str, user_id: int | None) -> None:
    """Make ``basis`` the basis of the assessments started from now on (running ones keep theirs)."""
    if basis not in BASES:
        raise InvalidInput(N_("Unknown logistics split basis."))
    row = session.get(AppSetting, LOGISTICS_BASIS) or AppSetting(key=LOGISTICS_BASIS)
    row.value = basis
    row.updated_by_id = user_id
    row.updated_at = clock.now()
    session.add(row)


__all__ = ["LOGISTICS_BASIS", "logistics_basis", "set_logistics_basis", "setting_row"]
