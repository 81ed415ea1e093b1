"""Our deploy rules on top of the BPMN schema and the library's parser: every user task has a
form and a known department, diagram code compiles in the sandbox, every element reaches an
end, timers are valid ISO 8601, a message-started process has no other start, a charged task
(``latenessCharge``) names a known charge and has a due time, ``customerClock`` has a known kind."""

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
from app.engine.properties import access_problems
from app.engine.sandbox import check_source

#: What a day late on a task with the ``latenessCharge`` property costs in the weekly
#: assessment: producing measures (10 yuan/day) or carrying them out (20 yuan/day).
LATENESS_CHARGES = ("measures", "execution")
#: How a user task counts on the customer's clock (``app.services.customer_clock``): its
#: completion answers the customer, resolves the case for the customer, or while it is open we
#: wait for the customer.
CUSTOMER_CLOCK_KINDS = ("answer", "resolution", "wait")


def check_rules(
    spec: Any,
    subprocess_specs: dict[str, Any],
    forms: dict[str, Any],
    known_departments: set[str] | None,
    known_approvals: set[str] | None = None,
) -> list[Problem]:
    """Our own rules on top of the BPMN schema and the library's parser."""
    problems: list[Problem] = []
    user_tasks = {getattr(ts, "bpmn_id", None) or ts.name
                  for ts in iter_task_specs(spec, subprocess_specs) if isinstance(ts, UserTask)}
    for ts in iter_task_specs(spec, subprocess_specs):
        element, name = getattr(ts, "bpmn_id", None) or ts.name, getattr(ts, "bpmn_name", "") or ""
        props = task_properties(ts)
        messages = [
            *_user_task_rules(ts, props, forms, known_departments),
            *access_problems(props, isinstance(ts, UserTask), user_tasks, known_approvals),
            *_lateness_rules(ts, props),
            *_schedule_rules(ts, props),
            *_customer_clock_rules(ts, props),
            *_code_rules(ts, props),
        ]
        problems += [Problem(message, element_id=element, element_name=name) for message in messages]
    problems += check_paths(spec, subprocess_specs) + check_timers(spec, subprocess_specs) + check_starts(spec)
    return problems


def _user_task_rules(
    ts: Any, props: dict[str, str], forms: dict[str, Any], known_departments: set[str] | None
) -> list[str]:
    """A user task names an existing form and belongs to a known department (lane or property)."""
    if not isinstance(ts, UserTask):
        return []
    messages = []
    form_key = props.get("formKey")
    if not form_key:
        messages.append("user task has no formKey property")
    elif form_key not in forms:
        messages.append(f"form '{form_key}' does not exist")
    department = props.get("department", "")
    if known_departments is None:
        return messages
    if department and not department.startswith("="):
        if department.lower() not in known_departments:
            messages.append(f"unknown department '{department}'")
    elif not department and not ts.lane:
        messages.append("user task is in no lane and names no department")
    elif not department and ts.lane.lower() not in known_departments:
        messages.append(f"lane '{ts.lane}' is not a known department")
    return messages


def _lateness_rules(ts: Any, props: dict[str, str]) -> list[str]:
    """``latenessCharge``/``latenessDays`` sit on a user task with a due time, with known values."""
    charge, days = props.get("latenessCharge"), props.get("latenessDays")
    if not (charge or days):
        return []
    if not isinstance(ts, UserTask):
        return ["latenessCharge and latenessDays belong on a user task"]
    if charge not in LATENESS_CHARGES:
        return [f"latenessCharge must be one of {', '.join(LATENESS_CHARGES)}"]
    if days and days not in LATENESS_BASES:
        return [f"latenessDays must be one of {', '.join(LATENESS_BASES)}"]
    if not props.get("dueAt"):
        return ["a task with latenessCharge needs a dueAt"]
    return []


def _customer_clock_rules(ts: Any, props: dict[str, str]) -> list[str]:
    """``customerClock`` sits on a user task and is a known kind or an expression giving one."""
    value = props.get("customerClock")
    if value is None:
        return []
    if not isinstance(ts, UserTask):
        return ["customerClock belongs on a user task"]
    if not value.startswith("=") and value not in CUSTOMER_CLOCK_KINDS:
        return [f"customerClock must be one of {', '.join(CUSTOMER_CLOCK_KINDS)} or an =expression giving one"]
    return []


def _schedule_rules(ts: Any, props: dict[str, str]) -> list[str]:
    """``startSchedule`` is a valid repeating interval on a start event."""
    schedule = props.get("startSchedule")
    if not schedule:
        return []
    if not isinstance(ts, StartEvent):
        return ["startSchedule belongs on a start event"]
    error = schedule_error(schedule)
    return [error] if error else []


def _code_sources(ts: Any, props: dict[str, str]) -> list[tuple[str, str, str]]:
    """Every piece of diagram code on an element: (what, source, compile mode)."""
    sources = [(f"{prop} expression", props[prop][1:], "eval")
               for prop in ("dueAt", "department", "assignee", "customerClock") if props.get(prop, "").startswith("=")]
    if isinstance(ts, ScriptTask) and ts.script:
        sources.append(("script", ts.script, "exec"))
    sources += [(attr, script, "exec") for attr in ("prescript", "postscript") if (script := getattr(ts, attr, None))]
    if isinstance(ts, ExclusiveGateway | InclusiveGateway):
        for condition, target in getattr(ts, "cond_task_specs", []):
            source = getattr(condition, "args", [condition])[0] if condition else None
            if isinstance(source, str):
                sources.append((f"condition to {target}", source, "eval"))
    event_definition = getattr(ts, "event_definition", None)
    if isinstance(event_definition, TimerEventDefinition):
        sources.append(("timer expression", event_definition.expression, "eval"))
    payload = getattr(event_definition, "expression", None)
    if isinstance(event_definition, MessageEventDefinition) and isinstance(payload, str) and payload:
        sources.append(("message payload", payload, "eval"))
    return sources


def _code_rules(ts: Any, props: dict[str, str]) -> list[str]:
    """Diagram code compiles in the sandbox."""
    return [f"{what}: {error}" for what, source, mode in _code_sources(ts, props)
            if (error := check_source(source, mode))]


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
