"""Work in progress that is not yet part of a case: a user's draft of a task's form, and the
files a form received on a try that came back with errors (reused when it is sent again)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.clock import utcnow
from app.data.db import Base
from app.data.types import JSONType, UTCDateTime


class TaskDraft(Base):
    """What one user typed into a task's form without submitting it (private to that user)."""

    __tablename__ = "task_draft"

    task_id: Mapped[str] = mapped_column(ForeignKey("human_task.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    #: the form's posted values: field name → list of strings (files are not kept)
    values: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PendingUpload(Base):
    """A file a form received on a try that failed validation: stored already, shown on the form
    again, and used when the form is sent with the same ``token`` by the same ``owner`` (a user,
    or a customer's browser session). Old rows are removed as new ones arrive."""

    __tablename__ = "pending_upload"
    __table_args__ = (Index("ix_pending_upload_token_owner", "token", "owner"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token: Mapped[str] = mapped_column(String(64))
    owner: Mapped[str] = mapped_column(String(80))
    field: Mapped[str] = mapped_column(String(63))
    #: the stored file as task data describes it (id, sha256, name, size, content_type)
    file: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
