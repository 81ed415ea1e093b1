"""Notifications (in-app), the e-mail outbox, opt-outs, the escalation ladder state, task
lateness, and the APScheduler job table (declared here so migrations and tests know it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.clock import utcnow
from app.data.db import Base
from app.data.types import JSONType, UTCDateTime


class NotificationKind:
    NEW_TASK = "new_task"
    ASSIGNED = "assigned"
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"
    ESCALATED = "escalated"
    REWORK = "rework"
    MENTION = "mention"
    REPEAT_ALERT = "repeat_alert"  # early warning: repeated problems (app.services.alerts)

    ALL = ("new_task", "assigned", "due_soon", "overdue", "escalated", "rework", "mention", "repeat_alert")


class Notification(Base):
    """One in-app notification; ``params`` hold what its text needs (rendered per locale)."""

    __tablename__ = "notification"
    __table_args__ = (Index("ix_notification_user_read", "user_id", "read_at", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(30))
    task_id: Mapped[str | None] = mapped_column(String(36), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("feedback_case.id", ondelete="SET NULL"))
    case_number: Mapped[str | None] = mapped_column(String(32))
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    in_app: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OutboxStatus:
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class EmailOutbox(Base):
    """An e-mail waiting to be sent (drained by a scheduler job, with retry and backoff): to a
    user about a notification, or to a case's customer."""

    __tablename__ = "email_outbox"
    __table_args__ = (Index("ix_email_outbox_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    notification_id: Mapped[int | None] = mapped_column(ForeignKey("notification.id", ondelete="SET NULL"))
    #: set for e-mails to a case's customer (acknowledgement, question, reply); None for staff
    case_id: Mapped[int | None] = mapped_column(ForeignKey("feedback_case.id", ondelete="SET NULL"), index=True)
    #: what a customer e-mail is ("acknowledgement", "question", "reply"); None for staff
    kind: Mapped[str | None] = mapped_column(String(30))
    to_address: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    locale: Mapped[str] = mapped_column(String(8), default="zh")
    status: Mapped[str] = mapped_column(String(20), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: files sent with the e-mail: ``[{"sha256", "name", "content_type"}]``, stored under UPLOAD_DIR
    attachments: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)


class NotificationOptOut(Base):
    """The user does not want ``kind`` notifications over ``channel`` ("email" or "in_app")."""

    __tablename__ = "notification_opt_out"

    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(30), primary_key=True)
    channel: Mapped[str] = mapped_column(String(10), primary_key=True)


class EscalationLevel:
    NONE = 0
    REMINDED = 1
    HEAD = 2
    MANAGER = 3


class TaskEscalation(Base):
    """How far up the ladder an open task has gone; each step is recorded once."""

    __tablename__ = "task_escalation"

    task_id: Mapped[str] = mapped_column(ForeignKey("human_task.id", ondelete="CASCADE"), primary_key=True)
    level: Mapped[int] = mapped_column(Integer, default=0)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    head_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    manager_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TaskLateness(Base):
    """A human task completed after its due time: days late (working or calendar, see basis)."""

    __tablename__ = "task_lateness"
    __table_args__ = (Index("ix_task_lateness_completed", "completed_at"),)

    task_id: Mapped[str] = mapped_column(ForeignKey("human_task.id", ondelete="CASCADE"), primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id", ondelete="CASCADE"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("feedback_case.id", ondelete="SET NULL"), index=True)
    case_number: Mapped[str | None] = mapped_column(String(32))
    element_id: Mapped[str] = mapped_column(String(200))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    days_late: Mapped[int] = mapped_column(Integer)
    basis: Mapped[str] = mapped_column(String(10))  # "working" | "calendar"


__all__ = [
    "EmailOutbox",
    "EscalationLevel",
    "Notification",
    "NotificationKind",
    "NotificationOptOut",
    "OutboxStatus",
    "TaskEscalation",
    "TaskLateness",
]
