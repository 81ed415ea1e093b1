"""Deadlines computed with the working calendar, and computing them again when it changes.

Two kinds of pending deadline depend on the calendar:

- a human task's due time whose ``dueAt`` expression calls a working-time helper
  (``=add_working_days(now(), 3)``): it is evaluated with ``now()`` pinned to the task's
  creation (:func:`app.engine.projection.due_at`), so evaluating it again against the task's
  data gives the same result unless the calendar changed;
- a waiting ``timeDate`` timer whose expression calls one (``add_working_days(now(), 3)``):
  :class:`DeadlineRecordingEngine` records the instant it was evaluated in the timer task's
  internal data (``calendar_now``) and pins ``now()`` to it.

:func:`recompute` evaluates both again on a loaded workflow. Deadlines held in a data key
(``dueAt = "=some_due_at"``, a timer on ``some_due_at``) were computed by an earlier
script and are not recomputed: the script is not run again. Diagrams therefore keep the
inputs in data and call the helper where the deadline is used (corrective_action.bpmn:
``dueAt = "=end_of_working_day(execution_due_date) if ..."`` and the same timer). A deadline
whose expression fails when evaluated again (e.g. an instance migrated to a version that reads
data it does not have) stays where it is, so one instance cannot block a calendar change.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimeDateEventDefinition, TimerEventDefinition
from SpiffWorkflow.util.task import TaskState as SpiffState

from app.clock import clock
from app.data.models import HumanTask
from app.engine.calendar import depends_on_working_calendar
from app.engine.definitions.lookup import is_user_task, task_properties
from app.engine.helpers import to_datetime
from app.engine.parser import ParsedSpec, iter_task_specs
from app.engine.projection import due_at, pinned_now

log = logging.getLogger(__name__)

#: Internal data key of a waiting timer task: when its calendar-based expression was evaluated.
CALENDAR_NOW = "calendar_now"


def _calendar_timer(spec: Any) -> str | None:
    """The expression of a ``timeDate`` timer spec that uses the working calendar, else None."""
    definition = getattr(spec, "event_definition", None)
    if isinstance(definition, TimeDateEventDefinition) and depends_on_working_calendar(definition.expression):
        return str(definition.expression)
    return None


def calendar_due_expression(spec: Any) -> str | None:
    """The ``dueAt`` expression (without ``=``) of a user task spec when it uses the calendar."""
    value = task_properties(spec).get("dueAt") or ""
    if value.startswith("=") and depends_on_working_calendar(value[1:]):
        return value[1:]
    return None


@dataclass(frozen=True)
class CalendarElements:
    """Where a deployed process has deadlines computed with the working calendar.

    ``tasks``: user tasks whose due time uses the calendar, or that carry a boundary timer
    using it (the timer waits exactly while the task is open); ``other_timers``: such a timer
    elsewhere (an intermediate event), so every running instance may have one pending.
    """

    tasks: frozenset[str]
    other_timers: bool


def calendar_elements(parsed: ParsedSpec) -> CalendarElements:
    tasks: set[str] = set()
    other = False
    for spec in iter_task_specs(parsed.spec, parsed.subprocess_specs):
        element = getattr(spec, "bpmn_id", None) or spec.name
        if is_user_task(spec) and calendar_due_expression(spec):
            tasks.add(element)
        if _calendar_timer(spec) is None:
            continue
        attached = [
            getattr(out, "bpmn_id", None) or out.name
            for split in spec.inputs if type(split).__name__ == "BoundaryEventSplit"
            for out in split.outputs if is_user_task(out)
        ]
        if attached:
            tasks.update(attached)
        else:
            other = True
    return CalendarElements(frozenset(tasks), other)


class DeadlineRecordingEngine(PythonScriptEngine):  # type: ignore[misc]  # untyped library
    """The script engine of the runtime: a timer expression that uses the working calendar is
    evaluated with ``now()`` pinned to an instant recorded on the timer task, so it can be
    evaluated again to the same result (or a new one after a calendar change)."""

    def evaluate(self, task: Any, expression: str, external_context: dict[str, Any] | None = None) -> Any:
        if external_context is None and _calendar_timer(task.task_spec) == expression:
            at = clock.now()
            task._set_internal_data(**{CALENDAR_NOW: at.isoformat()})
            external_context = {"now": pinned_now(at)}
        return super().evaluate(task, expression, external_context)


@dataclass(frozen=True)
class DeadlineMove:
    """A pending deadline that the current calendar puts elsewhere."""

    kind: str  # "task" (a human task's due time) or "timer"
    task_id: str
    element: str
    name: str
    before: datetime
    after: datetime


def _timer_due(value: Any) -> datetime:
    due: datetime = TimerEventDefinition.get_datetime(str(value))
    return due


def recompute(workflow: BpmnWorkflow, open_tasks: list[HumanTask]) -> list[DeadlineMove]:
    """Evaluate the calendar-based deadlines of ``workflow`` again with the current calendar.

    Moved timers get their new due time in the workflow (the caller saves it); moved human
    tasks are only reported (the caller updates ``human_task.due_at``).
    """
    moves: list[DeadlineMove] = []
    engine = workflow.script_engine
    for row in open_tasks:
        task = workflow.get_task_from_id(UUID(row.id))
        if task is None or task.state != SpiffState.READY or row.due_at is None:
            continue
        expression = calendar_due_expression(task.task_spec)
        if expression is None:
            continue
        try:
            new = due_at(workflow, task, "=" + expression, row.created_at)
        except Exception:  # noqa: BLE001 - diagram code; the deadline stays where it is
            log.warning("task %s: its due time cannot be computed again; it stays at %s", row.id, row.due_at,
                        exc_info=True)
            continue
        if new is not None and new != row.due_at:
            moves.append(DeadlineMove("task", row.id, row.element_id, row.title, row.due_at, new))
    for task in workflow.get_tasks(state=SpiffState.WAITING):
        expression = _calendar_timer(task.task_spec)
        at = task._get_internal_data(CALENDAR_NOW)
        old = task._get_internal_data("event_value")
        if expression is None or at is None or old is None or task._get_internal_data("event_fired"):
            continue
        try:
            value = engine.evaluate(task, expression, {"now": pinned_now(to_datetime(at))})
            before, after = _timer_due(old), _timer_due(value)
        except Exception:  # noqa: BLE001 - diagram code; the timer stays where it is
            log.warning("timer %s: its due time cannot be computed again; it stays at %s", task.id, old,
                        exc_info=True)
            continue
        if after != before:
            task._set_internal_data(event_value=value)
            element = getattr(task.task_spec, "bpmn_id", None) or task.task_spec.name
            name = getattr(task.task_spec, "bpmn_name", None) or element
            moves.append(DeadlineMove("timer", str(task.id), element, name, before, after))
    return moves


__all__ = [
    "CALENDAR_NOW",
    "CalendarElements",
    "DeadlineMove",
    "DeadlineRecordingEngine",
    "calendar_due_expression",
    "calendar_elements",
    "recompute",
]
