"""Process and form definitions, process instances, and the human-task projection."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.clock import utcnow
from app.data.db import Base
from app.data.types import JSONType, UTCDateTime


class InstanceStatus:
    RUNNING = "running"
    COMPLETED = "completed"
    INCIDENT = "incident"
    CANCELLED = "cancelled"


class TaskState:
    OPEN = "open"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class FormDefinition(Base):
    """An immutable version of a declarative form (``forms/<key>.json``)."""

    __tablename__ = "form_definition"
    __table_args__ = (
        UniqueConstraint("key", "version"),
        Index("ix_form_definition_key_hash", "key", "content_hash"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    content: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )


class ProcessDefinition(Base):
    """An immutable deployed version of one executable BPMN process.

    ``dependencies`` maps each called process key to the definition id it was bound to at
    deploy time, and ``forms`` maps each form key its user tasks use to a form version:
    an instance always runs with the diagrams and forms it started with.
    """

    __tablename__ = "process_definition"
    __table_args__ = (
        UniqueConstraint("key", "version"),
        Index("ix_process_definition_key_hash", "key", "spec_hash"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str | None] = mapped_column(String(200))
    source_name: Mapped[str | None] = mapped_column(String(200))
    content_hash: Mapped[str] = mapped_column(String(64))
    spec_hash: Mapped[str] = mapped_column(String(64))
    bpmn_xml: Mapped[str] = mapped_column(Text)
    dependencies: Mapped[dict[str, int]] = mapped_column(JSONType, default=dict)
    forms: Mapped[dict[str, int]] = mapped_column(JSONType, default=dict)
    executable: Mapped[bool] = mapped_column(default=True)
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deployed_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )


class ProcessInstance(Base):
    """A running (or finished) process; ``state`` is the serialized SpiffWorkflow instance."""

    __tablename__ = "process_instance"
    __table_args__ = (Index("ix_process_instance_status_due", "status", "next_due_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definition.id"), index=True)
    process_key: Mapped[str] = mapped_column(String(100), index=True)
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("feedback_case.id", ondelete="SET NULL"), index=True
    )
    business_key: Mapped[str | None] = mapped_column(String(100), index=True)
    status: Mapped[str] = mapped_column(String(20), default=InstanceStatus.RUNNING)
    state: Mapped[str] = mapped_column(Text)
    serializer_version: Mapped[str] = mapped_column(String(20))
    lock_version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    next_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    incident_message: Mapped[str | None] = mapped_column(Text)
    started_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    definition: Mapped[ProcessDefinition] = relationship(lazy="joined")

    __mapper_args__ = {"version_id_col": lock_version}


class HumanTask(Base):
    """Projection of one human task, kept in step with the instance on every save.

    Inboxes read only this table. The case essentials are copied in so a row can be shown
    and filtered without joins or loading workflow state.
    """

    __tablename__ = "human_task"
    __table_args__ = (
        Index("ix_human_task_dept_open", "state", "department_id", "due_at"),
        Index("ix_human_task_assignee_open", "state", "assignee_id", "due_at"),
        Index("ix_human_task_instance_state", "instance_id", "state"),
        Index("ix_human_task_completed_by", "completed_by_id", "completed_at"),
        # the weekly assessment: charged tasks late at some time in a week
        Index("ix_human_task_lateness", "lateness_charge", "completed_at"),
        Index("ix_human_task_approval", "approval", "state"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[int] = mapped_column(
        ForeignKey("process_instance.id", ondelete="CASCADE")
    )
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("feedback_case.id", ondelete="SET NULL"), index=True
    )
    process_key: Mapped[str] = mapped_column(String(100))
    element_id: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str | None] = mapped_column(String(200))
    lane: Mapped[str | None] = mapped_column(String(100))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    assignee_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    form_key: Mapped[str | None] = mapped_column(String(100))
    form_id: Mapped[int | None] = mapped_column(ForeignKey("form_definition.id"))
    #: who of the department may complete it (the task's ``performer`` property: ``head``, role names)
    performer: Mapped[str | None] = mapped_column(String(100))
    #: the approval kind (the task's ``approval`` property), for /approvals
    approval: Mapped[str | None] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(20), default=TaskState.OPEN)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    completion_token: Mapped[str | None] = mapped_column(String(64))
    # Case essentials, denormalized for the inbox.
    case_number: Mapped[str | None] = mapped_column(String(32), index=True)
    customer_name: Mapped[str | None] = mapped_column(String(200))
    product_model: Mapped[str | None] = mapped_column(String(120))
    urgency: Mapped[str | None] = mapped_column(String(20))
    category: Mapped[str | None] = mapped_column(String(30))
    context: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    #: the step's ``stage`` property (else its title), for cycle times per stage
    stage: Mapped[str | None] = mapped_column(String(100))
    # What a day late on this task costs in the weekly assessment (the task's ``latenessCharge``
    # property: "measures" or "execution"; None: not charged) and the days it is counted in
    # (``latenessDays``: "working" or "calendar"; None: the ESCALATION_LATENESS_DAYS setting).
    lateness_charge: Mapped[str | None] = mapped_column(String(20))
    lateness_basis: Mapped[str | None] = mapped_column(String(10))
