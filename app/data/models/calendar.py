"""Admin overrides of the working-time calendar (a date made a working day or a day off) and
the years whose announced holidays and 调休 days an admin confirmed as entered."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.clock import utcnow
from app.data.db import Base
from app.data.types import UTCDateTime


class CalendarOverride(Base):
    """``day`` is a working day (``working``) or a day off, whatever the holiday package says."""

    __tablename__ = "calendar_override"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    working: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str | None] = mapped_column(String(200))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CalendarYearConfirmation(Base):
    """An admin confirmed that ``year``'s announced bridge days and makeup working days (调休)
    are entered as overrides; the calendar warning for that year stops."""

    __tablename__ = "calendar_year_confirmation"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    confirmed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
