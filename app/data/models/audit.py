"""The audit trail: who did what, when, from where, with the data before and after; each event
sealed into a hash chain (see :mod:`app.engine.audit_chain`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.clock import utcnow
from app.data.db import Base
from app.data.types import JSONType, UTCDateTime

BIG_ID = BigInteger().with_variant(Integer, "sqlite")


class AuditEvent(Base):
    """One event. Written only by :func:`app.engine.audit.record`, never updated or deleted
    (a PostgreSQL trigger refuses it) except for sealing: ``seq``, ``prev_hash`` and ``hash`` are
    set once, when the transaction that wrote the event commits."""

    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_action_at", "action", "at"),
        #: a task's completion events (what it was completed with, which completion is the newest):
        #: the documents, the task pages' earlier data, the 8D rounds and four-eyes read them by task
        Index("ix_audit_event_task_completed", "task_id", "id",
              postgresql_where=text("action = 'task_completed'"), sqlite_where=text("action = 'task_completed'")),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    actor_label: Mapped[str] = mapped_column(String(120), default="system")
    #: the actor's roles at that moment, ",admin,head:quality," (heads as ``head:<department>``)
    actor_roles: Mapped[str | None] = mapped_column(String(400))
    #: the actor's department codes at that moment, ",marketing,quality,"
    actor_departments: Mapped[str | None] = mapped_column(String(400))
    #: web, api, scheduler, cli or system
    channel: Mapped[str | None] = mapped_column(String(20))
    #: the client's address (behind the configured number of trusted proxies) and user agent
    client_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    action: Mapped[str] = mapped_column(String(60))
    instance_id: Mapped[int | None] = mapped_column(Integer, index=True)
    #: the process version (process_definition.id) the instance ran at that moment
    definition_id: Mapped[int | None] = mapped_column(Integer)
    case_id: Mapped[int | None] = mapped_column(Integer, index=True)
    task_id: Mapped[str | None] = mapped_column(String(36))
    element: Mapped[str | None] = mapped_column(String(200))
    message: Mapped[str | None] = mapped_column(Text)
    data_before: Mapped[Any | None] = mapped_column(JSONType)
    data_after: Mapped[Any | None] = mapped_column(JSONType)
    #: position in the hash chain (1, 2, …): the order the writing transactions committed in
    seq: Mapped[int | None] = mapped_column(BIG_ID, unique=True)
    prev_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    hash: Mapped[str | None] = mapped_column(String(64), unique=True)


class AuditChainHead(Base):
    """The chain's last sealed event (one row, id 1). Sealing locks it (``FOR UPDATE``), so
    the transactions writing events are chained one after the other."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BIG_ID, default=0)
    hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditExport(Base):
    """An export of the audit trail in progress or done: what was asked, the chain head it was
    taken at, and how far it got (read by the progress display)."""

    __tablename__ = "audit_export"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    format: Mapped[str] = mapped_column(String(10))
    filters: Mapped[Any | None] = mapped_column(JSONType)
    head_seq: Mapped[int] = mapped_column(BIG_ID, default=0)
    head_hash: Mapped[str] = mapped_column(String(64))
    total: Mapped[int] = mapped_column(BIG_ID, default=0)
    written: Mapped[int] = mapped_column(BIG_ID, default=0)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
