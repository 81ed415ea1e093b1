"""Inbox state that is not workflow state: delegations, substitutes while away, saved filters.

Also the extra ``human_task`` index the inbox's priority sort uses (declared here so the
model metadata and migration ``0004_inbox`` agree without touching the task model).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.clock import utcnow
from app.data.db import Base
from app.data.models.process import HumanTask
from app.data.types import JSONType, UTCDateTime


class DelegationState:
    ACTIVE = "active"  # with the delegate
    RETURNED = "returned"  # the delegate submitted a draft; back with the delegator for a final check
    COMPLETED = "completed"  # the delegator completed the task
    RECALLED = "recalled"  # the delegator took it back before the delegate submitted

    OPEN = (ACTIVE, RETURNED)


class TaskDelegation(Base):
    """A task handed to a colleague who works on it and hands it back for a final check."""

    __tablename__ = "task_delegation"
    __table_args__ = (Index("ix_task_delegation_task_state", "task_id", "state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("human_task.id", ondelete="CASCADE"))
    delegator_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    delegate_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(20), default=DelegationState.ACTIVE)
    note: Mapped[str | None] = mapped_column(String(500))
    draft: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Substitution(Base):
    """``substitute`` stands in for ``user`` from ``starts_on`` to ``ends_on`` (inclusive, Shanghai dates)."""

    __tablename__ = "substitution"
    __table_args__ = (Index("ix_substitution_substitute_dates", "substitute_id", "starts_on", "ends_on"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    substitute_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SavedFilter(Base):
    """A user's named inbox filter: the inbox query string (tab, filters, sort)."""

    __tablename__ = "saved_filter"
    __table_args__ = (UniqueConstraint("user_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(80))
    query: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


#: "sort by priority" on open tasks.
Index("ix_human_task_open_priority", HumanTask.state, HumanTask.priority, HumanTask.due_at)
#: "recently completed by me" and the four-eyes lookups of the preceding task's completer.
Index("ix_human_task_instance_element", HumanTask.instance_id, HumanTask.element_id, HumanTask.state)
#: which departments have (or had) approval items: one probe per department (the navigation asks)
Index("ix_human_task_approval_department", HumanTask.department_id,
      postgresql_where=HumanTask.approval.is_not(None), sqlite_where=HumanTask.approval.is_not(None))
