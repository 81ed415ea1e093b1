"""Scheduled starts: a start event's ``startSchedule`` property (an ISO 8601 repeating interval)."""

from __future__ import annotations

from datetime import datetime, timedelta

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from sqlalchemy.orm import Session

from app.engine.definitions.lookup import live_definitions, load_spec, task_properties


def parse_schedule(schedule: str) -> tuple[datetime, timedelta]:
    """(first start, interval) of an ISO 8601 repeating interval ``R[n]/<start>/<duration>``."""
    parts = schedule.strip().split("/")
    if len(parts) != 3 or not parts[0].upper().startswith("R") or not parts[2].upper().startswith("P"):
        raise ValueError(schedule)
    _cycles, start, interval = TimerEventDefinition.parse_iso_recurring_interval(schedule.strip())
    if start.tzinfo is None or interval <= timedelta(0):
        raise ValueError(schedule)
    return start, interval


def schedule_error(schedule: str) -> str | None:
    try:
        parse_schedule(schedule)
    except Exception:  # noqa: BLE001 - the library raises plain Exception for bad intervals
        return "startSchedule must be an ISO 8601 repeating interval with a start time and zone, " \
               "e.g. R/2026-01-05T09:00:00+08:00/P7D"
    return None


def start_schedules(session: Session) -> dict[str, str]:
    """Live processes whose start event carries a ``startSchedule`` property (an ISO 8601
    repeating interval such as ``R/2026-01-05T09:00:00+08:00/P7D``): process key → schedule.
    The scheduler starts them; changing when they start is a diagram change."""
    schedules: dict[str, str] = {}
    for definition in live_definitions(session):
        for task_spec in load_spec(session, definition).spec.task_specs.values():
            schedule = task_properties(task_spec).get("startSchedule")
            if schedule and isinstance(task_spec, StartEvent):
                schedules[definition.key] = schedule
    return schedules
