"""Feedback cases and the counters that number them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.clock import utcnow
from app.data.db import Base
from app.data.types import JSONType, UTCDateTime


class Case(Base):
    """One piece of customer feedback, from intake to closure.

    The columns hold what lists and filters need; the full intake sits in ``data``.
    ``status`` and ``stage`` are projections of the process instance.
    """

    __tablename__ = "feedback_case"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    feedback_type: Mapped[str] = mapped_column(String(30), index=True)
    category: Mapped[str | None] = mapped_column(String(30), index=True)
    urgency: Mapped[str | None] = mapped_column(String(20), index=True)
    channel: Mapped[str | None] = mapped_column(String(30))
    customer_name: Mapped[str] = mapped_column(String(200), index=True)
    customer_contact: Mapped[str | None] = mapped_column(String(200))
    customer_email: Mapped[str | None] = mapped_column(String(200))
    product_model: Mapped[str | None] = mapped_column(String(120), index=True)
    serial_numbers: Mapped[str | None] = mapped_column(Text)
    ship_date: Mapped[date | None] = mapped_column(Date)
    defective_qty: Mapped[int | None] = mapped_column(Integer)
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)
    stage: Mapped[str | None] = mapped_column(String(300))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    public_token: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class Counter(Base):
    """Named monotonic counters (case numbers per year); incremented under a row lock."""

    __tablename__ = "counter"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)
