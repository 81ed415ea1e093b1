"""Whether a running instance can still move, and what it waits for.

An instance moves only when a person completes a human task, a timer falls due, or an event is
delivered to it. This runtime delivers nothing to a waiting instance from outside: a message
nothing in the instance catches starts the processes with a matching message start event, and a
signal stays in its instance. So after every save, an instance that is not finished must have a
human task someone can act on (for a known department, or assigned to an active user) or a
pending timer; otherwise it becomes an incident naming the elements it waits at, instead of
waiting silently for ever.

Also here: the waiting events of an instance with the timers of event-based gateways unfolded
(the library reports such a gateway as one "multiple" event without a due time), and the
re-evaluation of conditional events after each step (the library evaluates them only when they
are reached).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions.conditional import ConditionalEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.util.task import TaskState as SpiffState
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from app.data.models import HumanTask, ProcessInstance, TaskState, User


@dataclass(frozen=True)
class Waiting:
    """One event an instance waits for: its element, kind (class name of the definition),
    name (message or signal name) and value (a timer's due time as the library stores it)."""

    element: str
    event_type: str
    name: str | None
    value: Any


def _element(task: Any) -> str:
    spec = task.task_spec
    element = getattr(spec, "bpmn_id", None) or spec.name
    label = getattr(spec, "bpmn_name", None)
    return f"{element} ({label})" if label else str(element)


def waiting_events(workflow: BpmnWorkflow) -> Iterator[Waiting]:
    """Every event the instance waits for, event-based gateways unfolded into their events."""
    for task in list(workflow.event_manager.tasks.values()):
        definition = task.task_spec.event_definition
        parts = definition.event_definitions if isinstance(definition, MultipleEventDefinition) else [definition]
        for part in parts:
            if isinstance(part, TimerEventDefinition):
                # The timers of a gateway keep their due time in the gateway task's data.
                details = part.details(task)
                yield Waiting(_element(task), type(part).__name__, part.name, details.value)
            else:
                yield Waiting(_element(task), type(part).__name__, getattr(part, "name", None), None)


def refresh_conditions(workflow: BpmnWorkflow) -> bool:
    """Evaluate waiting conditional events again (the data may have changed); True if one fired."""
    fired = False
    for task in list(workflow.event_manager.tasks.values()):
        definition = task.task_spec.event_definition
        parts = definition.event_definitions if isinstance(definition, MultipleEventDefinition) else [definition]
        if any(isinstance(part, ConditionalEventDefinition) for part in parts):
            before = task.state
            task.task_spec._update(task)
            fired = fired or task.state != before
    return fired


#: an instance's open human tasks (the runtime reads them fresh with it); which of some users are
#: active (built once)
OPEN_ROWS = select(HumanTask).where(HumanTask.instance_id == bindparam("instance_id"),
                                    HumanTask.state == TaskState.OPEN)
_ACTIVE_USERS = select(User.id).where(User.id.in_(bindparam("ids", expanding=True)), User.active.is_(True))


def _actionable(session: Session, instance: ProcessInstance,
                rows: list[HumanTask] | None = None) -> tuple[list[HumanTask], list[HumanTask]]:
    """The instance's open human tasks: those someone can act on (a known department's members,
    present or future, or an active assignee), and those nobody can."""
    if rows is None:
        rows = list(session.scalars(OPEN_ROWS, {"instance_id": instance.id}))
    assignees = {r.assignee_id for r in rows if r.department_id is None and r.assignee_id is not None}
    active = set(session.scalars(_ACTIVE_USERS, {"ids": sorted(assignees)})) if assignees else set()
    able = [r for r in rows if r.department_id is not None or r.assignee_id in active]
    return able, [r for r in rows if r not in able]


def stall_reason(session: Session, instance: ProcessInstance, workflow: BpmnWorkflow,
                 open_rows: list[HumanTask] | None = None) -> str | None:
    """Why a running, unfinished instance can make no progress, or None when it can
    (``open_rows``: the instance's open human tasks, when the caller has them). The caller has
    found the workflow not completed (the save's status): walking its tasks again is not needed."""
    if instance.next_due_at is not None:
        return None
    able, unable = _actionable(session, instance, open_rows)
    if able:
        return None
    reasons = [f"task {row.element_id} ({row.title}) is for no known department and no active user"
               for row in unable]
    for event in waiting_events(workflow):
        if event.event_type in ("MessageEventDefinition", "SignalEventDefinition"):
            kind = "message" if event.event_type.startswith("Message") else "signal"
            reasons.append(f"{event.element} waits for the {kind} '{event.name}', which nothing can send to this "
                           "instance")
        elif event.event_type == "ConditionalEventDefinition":
            reasons.append(f"{event.element} waits for a condition that no further step can change")
        elif not event.event_type.endswith("TimerEventDefinition"):
            reasons.append(f"{event.element} waits for a {event.event_type.replace('EventDefinition', '')} event")
    if not reasons:
        waiting = sorted({_element(t) for t in workflow.get_tasks(state=SpiffState.WAITING | SpiffState.READY)})
        reasons.append("it waits at " + ", ".join(waiting) if waiting else "nothing is ready or waiting")
    return "The process cannot go on: " + "; ".join(reasons) + "."
