"""Early warning on repeated problems: the serial numbers of each case (one indexed row per
serial, so matching never parses text or loads a workflow) and the clusters of matching cases
Quality is alerted about (see :mod:`app.services.alerts`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.clock import utcnow
from app.data.db import Base
from app.data.types import UTCDateTime


class CaseSerial(Base):
    """One normalised machine serial number of a case (from the intake's serial numbers)."""

    __tablename__ = "case_serial"

    case_id: Mapped[int] = mapped_column(ForeignKey("feedback_case.id", ondelete="CASCADE"), primary_key=True)
    serial: Mapped[str] = mapped_column(String(120), primary_key=True, index=True)


class AlertStatus:
    OPEN = "open"  # Quality was alerted; nobody has acknowledged it yet
    ACKNOWLEDGED = "acknowledged"

    ALL = ("open", "acknowledged")


class AlertDimension:
    MODEL = "model"
    BATCH = "batch"
    SERIAL = "serial"
    SERIAL_PREFIX = "serial_prefix"

    ALL = ("model", "batch", "serial", "serial_prefix")


class RepeatCluster(Base):
    """Cases that match on one dimension (product model, batch, serial or serial prefix) with
    the same ``key``, from the moment they reached the rule's threshold within its window.

    Quality is alerted once per cluster, when it is created; later matching cases join it
    (``case_count`` grows) while they arrive within the window after its last case. A match
    after a quiet spell longer than the window starts a new cluster.
    """

    __tablename__ = "repeat_cluster"
    __table_args__ = (Index("ix_repeat_cluster_key", "dimension", "key", "last_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dimension: Mapped[str] = mapped_column(String(20))
    key: Mapped[str] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(20), default=AlertStatus.OPEN, index=True)
    #: the rule when the cluster formed (cases within days)
    threshold: Mapped[int] = mapped_column(Integer)
    window_days: Mapped[int] = mapped_column(Integer)
    case_count: Mapped[int] = mapped_column(Integer, default=0)
    first_case_id: Mapped[int | None] = mapped_column(ForeignKey("feedback_case.id", ondelete="SET NULL"))
    last_case_id: Mapped[int | None] = mapped_column(ForeignKey("feedback_case.id", ondelete="SET NULL"))
    #: when the first and the latest case of the cluster were received
    first_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    alerted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    note: Mapped[str | None] = mapped_column(Text)
    #: the case that deals with the cluster (e.g. the corrective action)
    linked_case_id: Mapped[int | None] = mapped_column(ForeignKey("feedback_case.id", ondelete="SET NULL"))


class RepeatClusterCase(Base):
    """A case of a cluster and when it joined."""

    __tablename__ = "repeat_cluster_case"

    cluster_id: Mapped[int] = mapped_column(ForeignKey("repeat_cluster.id", ondelete="CASCADE"), primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("feedback_case.id", ondelete="CASCADE"), primary_key=True,
                                         index=True)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
