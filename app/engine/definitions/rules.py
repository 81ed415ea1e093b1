"""Our deploy rules on top of the BPMN schema and the library's parser: every user task has a
form and a known department, diagram code compiles in the sandbox, every element reaches an
end, timers are valid ISO 8601, a message-started process has no other start, a charged task
(``latenessCharge``) names a known charge and has a due time."""

from __future__ import annotations

import ast
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.bpmn.specs.mixins.exclusive_gateway import ExclusiveGateway
from SpiffWorkflow.bpmn.specs.mixins.inclusive_gateway import InclusiveGateway
from SpiffWorkflow.bpmn.specs.mixins.script_task import ScriptTask
from SpiffWorkflow.bpmn.specs.mixins.user_task import UserTask

from app.engine.calendar import LATENESS_BASES
from app.engine.definitions.lookup import task_properties
from app.engine.definitions.schedules import schedule_error
from app.engine.errors import Problem
from app.engine.parser import iter_task_specs
from app.engine.sandbox import check_source

#: What a day late on a task with the ``latenessCharge`` property costs in the weekly
#: assessment: producing measures (10 yuan/day) or carrying them out (20 yuan/day).
LATENESS_CHARGES = ("measures", "execution")


def check_rules(
    spec: Any,
    subprocess_specs: dict[str, Any],
    forms: dict[str, Any],
    known_departments: set[str] | None,
) -> list[Problem]:
    """Our own rules on top of the BPMN schema and the library's parser."""
    problems: list[Problem] = []
    for ts in iter_task_specs(spec, subprocess_specs):
        element, name = getattr(ts, "bpmn_id", None) or ts.name, getattr(ts, "bpmn_name", "") or ""
        props = task_properties(ts)

        def problem(message: str) -> None:
            problems.append(Problem(message, element_id=element, element_name=name))  # noqa: B023

        if isinstance(ts, UserTask):
            form_key = props.get("formKey")
            if not form_key:
                problem("user task has no formKey property")
            elif form_key not in forms:
                problem(f"form '{form_key}' does not exist")
            department = props.get("department", "")
            if known_departments is not None:
                if department and not department.startswith("="):
                    if department.lower() not in known_departments:
                        problem(f"unknown department '{department}'")
                elif not department and not ts.lane:
                    problem("user task is in no lane and names no department")
                elif not department and ts.lane.lower() not in known_departments:
                    problem(f"lane '{ts.lane}' is not a known department")
        charge, days = props.get("latenessCharge"), props.get("latenessDays")
        if charge or days:
            if not isinstance(ts, UserTask):
                problem("latenessCharge and latenessDays belong on a user task")
            elif charge not in LATENESS_CHARGES:
                problem(f"latenessCharge must be one of {', '.join(LATENESS_CHARGES)}")
            elif days and days not in LATENESS_BASES:
                problem(f"latenessDays must be one of {', '.join(LATENESS_BASES)}")
            elif not props.get("dueAt"):
                problem("a task with latenessCharge needs a dueAt")
        for prop in ("dueAt", "department", "assignee"):
            value = props.get(prop, "")
            if value.startswith("="):
                error = check_source(value[1:], "eval")
                if error:
                    problem(f"{prop} expression: {error}")
        schedule = props.get("startSchedule")
        if schedule:
            if not isinstance(ts, StartEvent):
                problem("startSchedule belongs on a start event")
            elif (error := schedule_error(schedule)) is not None:
                problem(error)
        if isinstance(ts, ScriptTask) and ts.script:
            error = check_source(ts.script, "exec")
            if error:
                problem(f"script: {error}")
        for attr in ("prescript", "postscript"):
            script = getattr(ts, attr, None)
            if script:
                error = check_source(script, "exec")
                if error:
                    problem(f"{attr}: {error}")
        if isinstance(ts, ExclusiveGateway | InclusiveGateway):
            for condition, target in getattr(ts, "cond_task_specs", []):
                source = getattr(condition, "args", [condition])[0] if condition else None
                if isinstance(source, str):
                    error = check_source(source, "eval")
                    if error:
                        problem(f"condition to {target}: {error}")
        event_definition = getattr(ts, "event_definition", None)
        if isinstance(event_definition, TimerEventDefinition):
            error = check_source(event_definition.expression, "eval")
            if error:
                problem(f"timer expression: {error}")
        payload = getattr(event_definition, "expression", None)
        if isinstance(event_definition, MessageEventDefinition) and isinstance(payload, str) and payload:
            error = check_source(payload, "eval")
            if error:
                problem(f"message payload: {error}")
    problems += check_paths(spec, subprocess_specs) + check_timers(spec, subprocess_specs) + check_starts(spec)
    return problems


def check_starts(spec: Any) -> list[Problem]:
    """A process started by a message has that message start event as its only start event:
    it cannot be started by hand, and a plain start beside it would run instead of the message."""
    starts = [ts for ts in spec.task_specs.values() if isinstance(ts, StartEvent)]
    message_starts = [ts for ts in starts
                      if isinstance(getattr(ts, "event_definition", None), MessageEventDefinition)]
    if message_starts and len(starts) > 1:
        element, label = _spec_label(message_starts[0])
        return [Problem("a process started by a message must have no other start event", element, label)]
    return []


def _spec_label(ts: Any) -> tuple[str, str]:
    return getattr(ts, "bpmn_id", None) or ts.name, getattr(ts, "bpmn_name", "") or ""


def check_paths(spec: Any, subprocess_specs: dict[str, Any]) -> list[Problem]:
    """Every element of every process must have a path to an end event (no dead ends, no closed loops)."""
    problems: list[Problem] = []
    seen: set[int] = set()
    for process in [spec, *subprocess_specs.values()]:
        if process is None or id(process) in seen:
            continue
        seen.add(id(process))
        task_specs = process.task_specs
        end = task_specs.get("End")
        if end is None:
            continue
        # Multi-instance children run inside their loop task, not on the flow graph.
        inner = {getattr(ts, "task_spec", None) for ts in task_specs.values() if hasattr(ts, "task_spec")}
        reached: set[str] = {end.name}
        pending = [end]
        while pending:
            current = pending.pop()
            for parent in current.inputs:
                if parent.name not in reached:
                    reached.add(parent.name)
                    pending.append(parent)
        for name, ts in task_specs.items():
            if name in reached or name in inner or not getattr(ts, "bpmn_id", None):
                continue
            element, label = _spec_label(ts)
            problems.append(Problem("no path from this element reaches an end event", element, label))
    return problems


def check_timers(spec: Any, subprocess_specs: dict[str, Any]) -> list[Problem]:
    """Constant timer expressions must be valid ISO 8601 dates, durations or cycles for their timer type."""
    problems: list[Problem] = []
    for ts in iter_task_specs(spec, subprocess_specs):
        event_definition = getattr(ts, "event_definition", None)
        if not isinstance(event_definition, TimerEventDefinition):
            continue
        element, label = _spec_label(ts)
        expression = (event_definition.expression or "").strip()
        if not expression:
            problems.append(Problem("timer has no expression", element, label))
            continue
        try:
            value = ast.literal_eval(expression)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue  # computed at run time from the process data; compiled in the sandbox by check_rules
        if not isinstance(value, str):
            problems.append(Problem(f"timer expression {expression} is not a text value", element, label))
            continue
        try:
            if isinstance(event_definition, DurationTimerEventDefinition):
                if not value.upper().startswith("P"):
                    raise ValueError(value)
                TimerEventDefinition.parse_iso_duration(value)
            elif isinstance(event_definition, CycleTimerEventDefinition):
                TimerEventDefinition.parse_iso_recurring_interval(value)
            elif isinstance(event_definition, TimeDateEventDefinition):
                TimerEventDefinition.parse_time_or_duration(value)
        except Exception:  # noqa: BLE001 - the library raises bare Exception for bad durations
            kind = type(event_definition).__name__.replace("EventDefinition", "")
            problems.append(Problem(f"invalid timer expression '{value}' ({kind})", element, label))
    return problems
