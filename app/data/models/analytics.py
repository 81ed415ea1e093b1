"""Projections the analysis dashboard reads (written by ``app.services.analytics.projection``).

- :class:`CaseRootCause`: the root-cause category of a case, one row per 8D report (the
  responsible department's D4 category) or per stock count whose outcome names a cause.
- :class:`CaseMatchKey`: the keys a case was last matched on by the early warning (``model``,
  ``batch``, ``serial``) and its feedback ``type``, so a later correction of them is noticed
  without parsing the case.
- :class:`CaseRepeat`: one row per case that matches earlier cases (the repeat rate's cases),
  kept exact by ``app.services.analytics.repeats``.
- :class:`CycleMonth` and :class:`CycleRollup`: the cycle times of the case tasks completed in a sealed
  month (a local calendar month over a day ago), counted per (stage, department, hours rounded to
  the 0.1 the reports show); a year's percentiles add up these counts instead of ranking every task.
  Written only by ``app.services.analytics.rollup`` (a scheduler job, a CLI command); database
  triggers on ``human_task`` drop a month's rows when a completed task of that month is inserted,
  changed or deleted, so the reports read that month from the tasks again until it is filled anew.
- :class:`AssessmentLine`: one line (case × department) of a weekly assessment: penalties and
  logistics cost, so costs per department and period are summed without loading workflows.
- :class:`AssessmentWeek`: what the list of weekly assessments shows of each (its week, status,
  whether its rows are computed, the departments it charges), kept by
  ``app.services.assessment_weeks`` with every save of the assessment.

Each row carries the case's ``received_at`` (or the week's Monday) so the dashboard's queries
touch only the chosen period through an index.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from app.clock import utcnow
from app.data.db import Base
from app.data.models.cases import Case
from app.data.models.process import HumanTask
from app.data.types import JSONType, UTCDateTime


class CaseRootCause(Base):
    __tablename__ = "case_root_cause"
    __table_args__ = (
        Index("ix_case_root_cause_received", "received_at", "category"),
        Index("ix_case_root_cause_case", "case_id", "source"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("feedback_case.id", ondelete="CASCADE"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id", ondelete="SET NULL"))
    #: one of ``app.services.analytics.causes.ROOT_CAUSES``
    category: Mapped[str] = mapped_column(String(30))
    #: "8d" (the D4 of a responsible department's report) or "stock_count"
    source: Mapped[str] = mapped_column(String(20))
    task_id: Mapped[str | None] = mapped_column(String(36))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CaseMatchKey(Base):
    __tablename__ = "case_match_key"
    __table_args__ = (
        Index("ix_case_match_key_lookup", "kind", "value", "received_at"),
        Index("ix_case_match_key_case", "case_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("feedback_case.id", ondelete="CASCADE"))
    #: "model" (the product model), "batch" (the batch number), "serial" (one serial number), as stored,
    #: or "type" (the feedback type: it decides whether the case counts)
    kind: Mapped[str] = mapped_column(String(20))
    value: Mapped[str] = mapped_column(String(300))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CaseRepeat(Base):
    """A case that matches earlier cases under the early-warning rules in force (a row only for those)."""

    __tablename__ = "case_repeat"
    __table_args__ = (Index("ix_case_repeat_received", "received_at", "case_id"),)

    case_id: Mapped[int] = mapped_column(ForeignKey("feedback_case.id", ondelete="CASCADE"), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CycleMonth(Base):
    """A sealed month whose completed case tasks are counted in :class:`CycleRollup` (the watermark)."""

    __tablename__ = "cycle_month"

    #: the month's first instant (local midnight of its first day, in UTC)
    month_start: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    #: the instant the month ends (exclusive)
    month_end: Mapped[datetime] = mapped_column(UTCDateTime)
    filled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CycleRollup(Base):
    """How many case tasks completed in a :class:`CycleMonth`, of one stage and department, took
    ``tenths`` tenths of an hour (from creation to completion, rounded as the reports round)."""

    __tablename__ = "cycle_rollup"
    __table_args__ = (Index("ix_cycle_rollup_month", "month_start", "department_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    month_start: Mapped[datetime] = mapped_column(
        UTCDateTime, ForeignKey("cycle_month.month_start", ondelete="CASCADE"))
    stage: Mapped[str | None] = mapped_column(String(100))
    department_id: Mapped[int | None] = mapped_column(Integer)
    tenths: Mapped[int] = mapped_column(Integer)
    tasks: Mapped[int] = mapped_column(Integer)


class AssessmentLine(Base):
    __tablename__ = "assessment_line"
    __table_args__ = (
        Index("ix_assessment_line_week", "week_start", "department_id"),
        Index("ix_assessment_line_instance", "instance_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id", ondelete="CASCADE"))
    week_start: Mapped[date] = mapped_column(Date)
    case_number: Mapped[str | None] = mapped_column(String(32))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("feedback_case.id", ondelete="SET NULL"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id", ondelete="SET NULL"))
    measure_penalty: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("0"))
    execution_penalty: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("0"))
    logistics_cost: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("0"))


class AssessmentWeek(Base):
    """One weekly assessment as its list shows it (the list reads these rows, not the workflows)."""

    __tablename__ = "assessment_week"

    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id", ondelete="CASCADE"), primary_key=True)
    week_start: Mapped[date | None] = mapped_column(Date)
    week_end: Mapped[date | None] = mapped_column(Date)
    #: the diagram's ``assessment_status`` (None while it sets none: open)
    status: Mapped[str | None] = mapped_column(String(40))
    #: whether the week's rows (``assessment_items``) have been computed
    computed: Mapped[bool] = mapped_column(Boolean, default=False)
    #: the codes of the departments its rows charge (who may see the assessment)
    departments: Mapped[list[Any]] = mapped_column(JSONType, default=list)


# Indexes on the tables the dashboard filters by period (declared here, like ``inbox.py`` does, so the
# model metadata and migration ``0012_dashboard`` agree without touching the other models' modules).

#: cases closed in a period (satisfaction, response rate, whole-case durations), read from the index
#: alone on PostgreSQL; open cases by age
Index("ix_feedback_case_closed_at", Case.closed_at, postgresql_include=["id", "received_at"])
Index("ix_feedback_case_status_received", Case.status, Case.received_at)
#: cases received in a period with what volumes and the customer's clock count (index-only on PostgreSQL)
Index("ix_feedback_case_received_cover", Case.received_at,
      postgresql_include=["id", "channel", "feedback_type", "category", "product_model", "clock_state",
                          "first_answer_met", "first_answer_due_at", "resolution_met", "resolution_due_at"])
#: the department filter (cases where the department has or had a task)
Index("ix_human_task_department_case", HumanTask.department_id, HumanTask.case_id)
#: the departments of a period's cases (the customer's clock per department), from the index alone
Index("ix_human_task_case_department", HumanTask.case_id, HumanTask.department_id)
#: cycle times of tasks completed in a period (index-only on PostgreSQL)
Index("ix_human_task_completed_at", HumanTask.completed_at, HumanTask.department_id,
      postgresql_include=["state", "case_id", "stage", "created_at"])
#: on-time rates of charged tasks due in a period (index-only on PostgreSQL)
Index("ix_human_task_charge_due", HumanTask.lateness_charge, HumanTask.due_at,
      postgresql_include=["department_id", "completed_at", "state", "case_id"])
