"""The escalation ladder of human tasks with a due time, and lateness for the assessment.

Steps (each recorded once in ``task_escalation.level``, set by compare-and-set so two
scheduler processes never send a step twice):

1. ``due_soon`` — ``ESCALATION_REMINDER_HOURS`` working hours (default 4) before the due time:
   a reminder to the assignee, or the department's members when nobody claimed it;
2. at the due time — ``overdue`` to the same people and ``escalated`` to the department
   head(s) (the inbox already flags the task as overdue for everyone);
3. ``ESCALATION_MANAGER_DELAY_DAYS`` working days (default 1) after the due time —
   ``escalated`` to the users with role ``manager``.

A task found past a later step (the scheduler was down) skips the reminder and goes
straight to the step it has reached; a task opened already inside the reminder window gets
no reminder (its new-task notice has just told the due time). The ladder reads only the indexed ``human_task``
projection, never workflow state.

Lateness: when a task with a due time is completed late, a ``task_lateness`` row records
its days late — started working days (``ESCALATION_LATENESS_DAYS = "working"``, default:
working time after the due time divided by a working day, rounded up) or started calendar
days (``"calendar"``); a task whose diagram names ``latenessDays`` is counted in that basis
(the 8D report: started 24-hour days). The weekly assessment charges the days of the tasks
with a ``latenessCharge`` in the week each day begins (:mod:`app.services.weekly`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.data.db import rowcount
from app.data.models import HumanTask, TaskEscalation, TaskLateness, TaskState
from app.data.models.notifications import EscalationLevel, NotificationKind
from app.engine.calendar import LATENESS_BASES, WorkingCalendar, default_calendar
from app.engine.context import Hook, RunContext
from app.services import notifications
from app.services.working_ruler import Ruler

log = logging.getLogger(__name__)

#: Tasks due within this many calendar days are candidates for the reminder (covers the
#: longest holiday stretch between "4 working hours before" and the due time).
REMINDER_HORIZON = timedelta(days=15)


@dataclass(frozen=True)
class LadderSettings:
    reminder_hours: float = 4.0
    manager_delay_days: float = 1.0
    lateness_days: str = "working"

    def __post_init__(self) -> None:
        if self.lateness_days not in LATENESS_BASES:
            raise ValueError(f"ESCALATION_LATENESS_DAYS must be one of {LATENESS_BASES}")


def settings_from_config(config: Mapping[str, Any]) -> LadderSettings:
    return LadderSettings(
        reminder_hours=float(config.get("ESCALATION_REMINDER_HOURS", 4)),
        manager_delay_days=float(config.get("ESCALATION_MANAGER_DELAY_DAYS", 1)),
        lateness_days=str(config.get("ESCALATION_LATENESS_DAYS", "working")),
    )


def target_level(task: HumanTask, now: datetime, settings: LadderSettings, cal: WorkingCalendar) -> int:
    """The ladder step ``task`` has reached at ``now``."""
    due = task.due_at
    if due is None:
        return EscalationLevel.NONE
    if now >= due:
        if now >= cal.add_working_days(due, settings.manager_delay_days):
            return EscalationLevel.MANAGER
        return EscalationLevel.HEAD
    if cal.working_hours_between(now, due) <= settings.reminder_hours:
        return EscalationLevel.REMINDED
    return EscalationLevel.NONE


@dataclass(frozen=True)
class TimeLeft:
    """Working time to a task's due time: ``hours`` (negative when overdue), ``hours_per_day``
    of the calendar, and ``at_risk`` once inside the reminder window."""

    hours: float
    hours_per_day: float
    at_risk: bool

    @property
    def overdue(self) -> bool:
        return self.hours < 0


def time_left(task: HumanTask, now: datetime, settings: LadderSettings,
              cal: WorkingCalendar | Ruler | None = None) -> TimeLeft | None:
    """How much working time ``task`` has left at ``now`` (None without a due time); a page of
    tasks passes a :class:`Ruler` anchored at ``now``."""
    if task.due_at is None:
        return None
    cal = cal or default_calendar()
    try:
        hours = cal.working_hours_between(now, task.due_at) if now < task.due_at else \
            -cal.working_hours_between(task.due_at, now)
    except ValueError:
        return None
    if now >= task.due_at and hours == 0:
        hours = -0.01  # past the due time outside working hours: overdue all the same
    return TimeLeft(hours, cal.hours_per_day, 0 <= hours <= settings.reminder_hours)


def _born_due_soon(task: HumanTask, settings: LadderSettings, cal: WorkingCalendar) -> bool:
    """Whether the task was opened already inside its reminder window: its new-task notice
    said the due time a moment ago, so a "due soon" reminder would only be noise."""
    if task.created_at is None or task.due_at is None:
        return False
    try:
        return cal.working_hours_between(task.created_at, task.due_at) <= settings.reminder_hours
    except ValueError:
        return False


def _ensure_row(session: Session, task_id: str) -> None:
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(TaskEscalation).values(task_id=task_id, level=0).on_conflict_do_nothing())


_STEP_COLUMN = {
    EscalationLevel.REMINDED: "reminded_at",
    EscalationLevel.HEAD: "head_at",
    EscalationLevel.MANAGER: "manager_at",
}


def _claim_step(session: Session, task_id: str, step: int, now: datetime) -> bool:
    """Move the task to ``step`` unless it is there already (compare-and-set)."""
    result = session.execute(
        update(TaskEscalation)
        .where(TaskEscalation.task_id == task_id, TaskEscalation.level < step)
        .values(level=step, **{_STEP_COLUMN[step]: now})
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


def rewind(session: Session, task: HumanTask, now: datetime, settings: LadderSettings,
           cal: WorkingCalendar | None = None) -> None:
    """After ``task``'s due time moved (the working calendar changed): forget the steps it has
    not reached at the new due time, so the ladder takes them again when they come."""
    reached = target_level(task, now, settings, cal or default_calendar())
    cleared = {column: None for step, column in _STEP_COLUMN.items() if step > reached}
    session.execute(
        update(TaskEscalation)
        .where(TaskEscalation.task_id == task.id, TaskEscalation.level > reached)
        .values(level=reached, **cleared)
        .execution_options(synchronize_session=False)
    )


def _notify_step(session: Session, task: HumanTask, step: int) -> None:
    workers = notifications.task_recipients(session, task)
    if step == EscalationLevel.REMINDED:
        notifications.notify(session, workers, NotificationKind.DUE_SOON, task)
    elif step == EscalationLevel.HEAD:
        notifications.notify(session, workers, NotificationKind.OVERDUE, task)
        heads = notifications.department_heads(session, task.department_id)
        notifications.notify(session, heads, NotificationKind.ESCALATED, task, {"level": "head"})
    elif step == EscalationLevel.MANAGER:
        managers = notifications.users_with_role(session, "manager")
        notifications.notify(session, managers, NotificationKind.ESCALATED, task, {"level": "manager"})


def run_ladder(session: Session, now: datetime, settings: LadderSettings,
               cal: WorkingCalendar | None = None, limit: int = 500) -> list[tuple[str, int]]:
    """Take every open task with a due time one or more steps up; returns (task id, step) done."""
    cal = cal or default_calendar()
    level = func.coalesce(TaskEscalation.level, 0)
    rows = session.execute(
        select(HumanTask, level)
        .outerjoin(TaskEscalation, TaskEscalation.task_id == HumanTask.id)
        .where(HumanTask.state == TaskState.OPEN)
        .where(HumanTask.due_at.is_not(None))
        .where(HumanTask.due_at <= now + REMINDER_HORIZON)
        .where(level < EscalationLevel.MANAGER)
        .order_by(HumanTask.due_at)
        .limit(limit)
    ).all()
    done: list[tuple[str, int]] = []
    for task, current in rows:
        try:
            reached = target_level(task, now, settings, cal)
        except ValueError:
            log.warning("cannot place task %s on the ladder (due %s)", task.id, task.due_at)
            continue
        steps = [s for s in (1, 2, 3) if current < s <= reached and not (s == 1 and reached > 1)]
        if not steps:
            continue
        _ensure_row(session, task.id)
        for step in steps:
            if _claim_step(session, task.id, step, now):
                if not (step == EscalationLevel.REMINDED and _born_due_soon(task, settings, cal)):
                    _notify_step(session, task, step)
                done.append((task.id, step))
    return done


# ------------------------------------------------------------------------------ lateness


def record_lateness(session: Session, rows: list[HumanTask], settings: LadderSettings) -> None:
    """A ``task_lateness`` row for each completed task that was finished after its due time."""
    for row in rows:
        if row.state != TaskState.COMPLETED or row.due_at is None or row.completed_at is None:
            continue
        if row.completed_at <= row.due_at:
            continue
        basis = row.lateness_basis or settings.lateness_days  # a charged task may name its own
        try:
            late = default_calendar().days_late(row.due_at, row.completed_at, basis)
        except ValueError:
            log.warning("cannot compute lateness of task %s", row.id)
            continue
        record = session.get(TaskLateness, row.id) or TaskLateness(task_id=row.id)
        record.instance_id = row.instance_id
        record.case_id = row.case_id
        record.case_number = row.case_number
        record.element_id = row.element_id
        record.department_id = row.department_id
        record.due_at = row.due_at
        record.completed_at = row.completed_at
        record.days_late = late
        record.basis = basis
        session.add(record)


def lateness_hook(settings: LadderSettings) -> Hook:
    """Runtime hook recording the lateness of tasks completed in this operation."""

    def hook(session: Session, instance: Any, workflow: Any, ctx: RunContext) -> None:
        record_lateness(session, ctx.closed, settings)

    return hook


__all__ = [
    "LadderSettings",
    "lateness_hook",
    "record_lateness",
    "rewind",
    "run_ladder",
    "settings_from_config",
    "target_level",
]
