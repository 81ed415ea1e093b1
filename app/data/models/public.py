"""The public (customer-facing) side: rate-limit ledger of web submissions and survey answers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.clock import utcnow
from app.data.db import Base
from app.data.types import UTCDateTime


class PublicSubmission(Base):
    """One accepted submission of the public feedback form, per client address (rate limit).

    Rows older than the rate-limit window are deleted as new ones arrive.
    """

    __tablename__ = "public_submission"
    __table_args__ = (Index("ix_public_submission_ip_at", "client_ip", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_ip: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class SurveyResponse(Base):
    """The customer's satisfaction survey answer: one per case, score 5 (very satisfied) … 1 (very dissatisfied)."""

    __tablename__ = "survey_response"
    __table_args__ = (CheckConstraint("score >= 1 AND score <= 5", name="score_range"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("feedback_case.id", ondelete="CASCADE"), unique=True)
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
