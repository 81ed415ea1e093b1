"""Rate-limit hits: one row per counted request, per bucket and client (address or account)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.clock import utcnow
from app.data.db import Base
from app.data.types import UTCDateTime


class RateHit(Base):
    """One counted request; rows older than their bucket's window are deleted as new ones arrive."""

    __tablename__ = "rate_hit"
    __table_args__ = (Index("ix_rate_hit_bucket_client_at", "bucket", "client", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bucket: Mapped[str] = mapped_column(String(40))
    client: Mapped[str] = mapped_column(String(120))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
