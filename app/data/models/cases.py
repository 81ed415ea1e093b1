"""Feedback cases and the counters that number them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.clock import utcnow
from app.data.db import Base
from app.data.types import JSONType, UTCDateTime


class Case(Base):
    """One piece of customer feedback, from intake to closure.

    The columns hold what lists and filters need; the full intake sits in ``data``.
    ``status`` and ``stage`` are projections of the process instance.

    The customer's clock (``app.services.customer_clock``): the promised limits as due times,
    the moments they were met, the outcome for the reports (met or not, working minutes taken)
    and the current state for lists. ``clock_state`` is None for cases opened before the clock
    existed (not tracked).
    """

    __tablename__ = "feedback_case"
    __table_args__ = (
        # the early warning's look-ups: one model's (one batch's) cases within a window
        Index("ix_feedback_case_model_received", "product_model", "received_at"),
        Index("ix_feedback_case_batch_received", "batch_no", "received_at"),
    )

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
    #: batch / lot number (批次号); the serial numbers are also in ``case_serial``, one row each
    batch_no: Mapped[str | None] = mapped_column(String(80))
    ship_date: Mapped[date | None] = mapped_column(Date)
    defective_qty: Mapped[int | None] = mapped_column(Integer)
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)
    stage: Mapped[str | None] = mapped_column(String(300))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    public_token: Mapped[str] = mapped_column(String(64), unique=True)
    #: the language of e-mails to the customer ("zh" or "en")
    customer_locale: Mapped[str] = mapped_column(String(8), default="zh")
    #: first answer to the customer by one of our people (not the automatic acknowledgement)
    first_answer_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    first_answer_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_answer_met: Mapped[bool | None] = mapped_column(Boolean)
    #: working minutes from receipt to the first answer
    first_answer_minutes: Mapped[int | None] = mapped_column(Integer)
    #: resolution: the reply that settles the matter (an answer, or the measures the customer accepted)
    resolution_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution_met: Mapped[bool | None] = mapped_column(Boolean)
    #: working minutes from receipt to the resolution, time spent waiting for the customer excluded
    resolution_minutes: Mapped[int | None] = mapped_column(Integer)
    #: waiting for the customer's information since (the resolution clock is paused meanwhile)
    clock_paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: working minutes spent waiting for the customer so far (they move the resolution due time)
    clock_paused_minutes: Mapped[int] = mapped_column(Integer, default=0)
    #: on_track | at_risk | breached | paused while running; met | missed | stopped once final
    clock_state: Mapped[str | None] = mapped_column(String(16), index=True)
    #: when ``clock_state`` changes next by the passing of time alone (None: only by an event)
    clock_state_until: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    #: digest of the match keys last projected into ``case_match_key`` (``app.services.analytics.projection``):
    #: a save that changed none of them needs no read of those rows
    match_digest: Mapped[str | None] = mapped_column(String(40))


class Counter(Base):
    """Named monotonic counters (case numbers per year); incremented under a row lock."""

    __tablename__ = "counter"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)
