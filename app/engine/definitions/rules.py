"""Our deploy rules on top of the BPMN schema and the library's parser: every user task has a
form and a known department, diagram code compiles in the sandbox, every element reaches an
end, timers are valid ISO 8601, a message-started process has no other start, a charged task
(``latenessCharge``) names a known charge and has a due time, a start by hand (``manualStart``,
``startForm``) names who may and an existing form, on a plain start event, ``customerClock`` has
a known kind."""

from __future__ import annotations

import ast
from collections.abc import Callable
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
from app.engine.definitions.confirm import is_confirm_task
from app.engine.definitions.lookup import task_properties
from app.engine.definitions.schedules import schedule_error
from app.engine.definitions.support import NO_DEPARTMENT, NO_FORM_KEY
from app.engine.errors import Problem
from app.engine.limits import TOO_MANY_INSTANCES_STATIC, cardinality_problems
from app.engine.parser import iter_task_specs
from app.engine.properties import access_problems, manual_start_problems
from app.engine.sandbox import check_source
from app.i18n import N_

#: What a day late on a task with the ``latenessCharge`` property costs in the weekly
#: assessment: producing measures (10 yuan/day) or carrying them out (20 yuan/day).
LATENESS_CHARGES = ("measures", "execution")
#: How a user task counts on the customer's clock (``app.services.customer_clock``): its
#: completion answers the customer, resolves the case for the customer, or while it is open we
#: wait for the customer.
CUSTOMER_CLOCK_KINDS = ("answer", "resolution", "wait")


#: one problem of an element: a message template (marked with N_, translated when shown) and its params
Message = tuple[str, dict[str, Any]]


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
        messages: list[Message] = [
            *_user_task_rules(ts, props, forms, known_departments),
            *((text, {}) for text in access_problems(props, isinstance(ts, UserTask), user_tasks, known_approvals)),
            *_lateness_rules(ts, props),
            *_schedule_rules(ts, props),
            *_start_rules(ts, props, forms, known_departments),
            *_customer_clock_rules(ts, props),
            *_code_rules(ts, props),
        ]
        problems += [Problem(text, element_id=element, element_name=name, params=params) for text, params in messages]
    problems += check_paths(spec, subprocess_specs) + check_timers(spec, subprocess_specs) + check_starts(spec)
    problems += [Problem(TOO_MANY_INSTANCES_STATIC, *_spec_label(ts), params=params)
                 for ts, params in cardinality_problems(iter_task_specs(spec, subprocess_specs))]
    problems += check_confirm_tasks(spec, subprocess_specs, forms, known_departments)
    return problems


def department_problem(
    ts: Any, props: dict[str, str], known_departments: set[str] | None, problem: Callable[..., None]
) -> None:
    """A human task needs a known department: its ``department`` property, else its lane."""
    department = props.get("department", "")
    if known_departments is None:
        return
    if department and not department.startswith("="):
        if department.lower() not in known_departments:
            problem(N_("unknown department '%(department)s'"), department=department)
    elif not department and not ts.lane:
        problem(NO_DEPARTMENT)
    elif not department and ts.lane.lower() not in known_departments:
        problem(N_("lane '%(lane)s' is not a known department"), lane=ts.lane)


def check_confirm_tasks(
    spec: Any, subprocess_specs: dict[str, Any], forms: dict[str, Any], known_departments: set[str] | None
) -> list[Problem]:
    """Manual and plain tasks are done by a department like user tasks (see :mod:`confirm`): they
    need a known department; a form named with formKey must exist, else they use the confirm form."""
    problems: list[Problem] = []
    for ts in iter_task_specs(spec, subprocess_specs):
        if not is_confirm_task(ts):
            continue
        element, label = _spec_label(ts)
        props = task_properties(ts)

        def problem(message: str, **params: Any) -> None:
            problems.append(Problem(message, element, label, params=params))  # noqa: B023

        form_key = props.get("formKey")
        if form_key and form_key not in forms:
            problem(N_("form '%(form)s' does not exist"), form=form_key)
        if known_departments is not None and not props.get("department") and not ts.lane:
            problem(N_("This manual or plain task is done by nobody: put it in a lane named after a department, "
                       "or set its department property. The department confirms it done (with its formKey form, "
                       "or a confirm-only form)."))
        else:
            department_problem(ts, props, known_departments, problem)
    return problems


def _user_task_rules(
    ts: Any, props: dict[str, str], forms: dict[str, Any], known_departments: set[str] | None
) -> list[Message]:
    """A user task names an existing form and belongs to a known department (lane or property)."""
    if not isinstance(ts, UserTask):
        return []
    messages: list[Message] = []
    form_key = props.get("formKey")
    if not form_key:
        messages.append((NO_FORM_KEY, {}))
    elif form_key not in forms:
        messages.append((N_("form '%(form)s' does not exist"), {"form": form_key}))
    department_problem(ts, props, known_departments, lambda text, **params: messages.append((text, params)))
    return messages


def _lateness_rules(ts: Any, props: dict[str, str]) -> list[Message]:
    """``latenessCharge``/``latenessDays`` sit on a user task with a due time, with known values."""
    charge, days = props.get("latenessCharge"), props.get("latenessDays")
    if not (charge or days):
        return []
    if not isinstance(ts, UserTask):
        return [(N_("latenessCharge and latenessDays belong on a user task"), {})]
    if charge not in LATENESS_CHARGES:
        return [(N_("latenessCharge must be one of %(values)s"), {"values": ", ".join(LATENESS_CHARGES)})]
    if days and days not in LATENESS_BASES:
        return [(N_("latenessDays must be one of %(values)s"), {"values": ", ".join(LATENESS_BASES)})]
    if not props.get("dueAt"):
        return [(N_("a task with latenessCharge needs a dueAt"), {})]
    return []


def _customer_clock_rules(ts: Any, props: dict[str, str]) -> list[Message]:
    """``customerClock`` sits on a user task and is a known kind or an expression giving one."""
    value = props.get("customerClock")
    if value is None:
        return []
    if not isinstance(ts, UserTask):
        return [(N_("customerClock belongs on a user task"), {})]
    if not value.startswith("=") and value not in CUSTOMER_CLOCK_KINDS:
        return [(N_("customerClock must be one of %(values)s or an =expression giving one"),
                 {"values": ", ".join(CUSTOMER_CLOCK_KINDS)})]
    return []


def _schedule_rules(ts: Any, props: dict[str, str]) -> list[Message]:
    """``startSchedule`` is a valid repeating interval on a start event."""
    schedule = props.get("startSchedule")
    if not schedule:
        return []
    if not isinstance(ts, StartEvent):
        return [(N_("startSchedule belongs on a start event"), {})]
    error = schedule_error(schedule)
    return [(N_("startSchedule: %(error)s"), {"error": error})] if error else []


def _start_rules(
    ts: Any, props: dict[str, str], forms: dict[str, Any], known_departments: set[str] | None
) -> list[Message]:
    """``manualStart``/``startForm`` sit on a plain start event; the form exists and takes no files."""
    if "manualStart" not in props and "startForm" not in props:
        return []
    if not isinstance(ts, StartEvent):
        return [(N_("manualStart and startForm belong on a start event"), {})]
    if isinstance(getattr(ts, "event_definition", None), MessageEventDefinition):
        return [(N_("a process started by a message cannot be started by hand (no manualStart or startForm here)"),
                 {})]
    if "manualStart" not in props:
        return [(N_("startForm needs manualStart: who may start the process by hand"), {})]
    messages: list[Message] = [(text, {}) for text in manual_start_problems(props, known_departments)]
    form_key = props.get("startForm")
    if form_key is not None:
        form = forms.get(form_key)
        content = getattr(form, "content", form)
        if form is None:
            messages.append((N_("form '%(form)s' does not exist"), {"form": form_key}))
        elif any(field.get("type") in ("file", "files") for field in (content or {}).get("fields", [])):
            messages.append((N_("start form '%(form)s' has file fields; a start by hand takes JSON data only"),
                             {"form": form_key}))
    return messages


def _code_sources(ts: Any, props: dict[str, str]) -> list[tuple[Message, str, str]]:
    """Every piece of diagram code on an element: (what it is as a message, source, compile mode);
    the message template has an ``%(error)s`` for the compile error."""
    sources: list[tuple[Message, str, str]] = [
        ((N_("%(property)s expression: %(error)s"), {"property": prop}), props[prop][1:], "eval")
        for prop in ("dueAt", "department", "assignee", "customerClock", "about") if props.get(prop, "").startswith("=")
    ]
    if isinstance(ts, ScriptTask) and ts.script:
        sources.append(((N_("script: %(error)s"), {}), ts.script, "exec"))
    sources += [((N_("%(property)s: %(error)s"), {"property": attr}), script, "exec")
                for attr in ("prescript", "postscript") if (script := getattr(ts, attr, None))]
    if isinstance(ts, ExclusiveGateway | InclusiveGateway):
        for condition, target in getattr(ts, "cond_task_specs", []):
            source = getattr(condition, "args", [condition])[0] if condition else None
            if isinstance(source, str):
                sources.append(((N_("condition to %(target)s: %(error)s"), {"target": target}), source, "eval"))
    event_definition = getattr(ts, "event_definition", None)
    if isinstance(event_definition, TimerEventDefinition):
        sources.append(((N_("timer expression: %(error)s"), {}), event_definition.expression, "eval"))
    payload = getattr(event_definition, "expression", None)
    if isinstance(event_definition, MessageEventDefinition) and isinstance(payload, str) and payload:
        sources.append(((N_("message payload: %(error)s"), {}), payload, "eval"))
    return sources


def _code_rules(ts: Any, props: dict[str, str]) -> list[Message]:
    """Diagram code compiles in the sandbox."""
    return [(text, {**params, "error": error}) for (text, params), source, mode in _code_sources(ts, props)
            if (error := check_source(source, mode))]


def check_starts(spec: Any) -> list[Problem]:
    """A process started by a message has that message start event as its only start event:
    it cannot be started by hand, and a plain start beside it would run instead of the message."""
    starts = [ts for ts in spec.task_specs.values() if isinstance(ts, StartEvent)]
    message_starts = [ts for ts in starts
                      if isinstance(getattr(ts, "event_definition", None), MessageEventDefinition)]
    if message_starts and len(starts) > 1:
        element, label = _spec_label(message_starts[0])
        return [Problem(N_("a process started by a message must have no other start event"), element, label)]
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
        # Multi-instance children run inside their loop task, not on the flow graph; event
        # subprocesses started by a message or signal are triggered by it, not reached by a flow.
        inner = {getattr(ts, "task_spec", None) for ts in task_specs.values() if hasattr(ts, "task_spec")}
        inner |= set(getattr(process.start, "trigger_specs", None) or ())
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
            problems.append(Problem(N_("no path from this element reaches an end event"), element, label))
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
            problems.append(Problem(N_("timer has no expression"), element, label))
            continue
        try:
            value = ast.literal_eval(expression)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue  # computed at run time from the process data; compiled in the sandbox by check_rules
        if not isinstance(value, str):
            problems.append(Problem(N_("timer expression %(expression)s is not a text value"), element, label,
                                    params={"expression": expression}))
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
            problems.append(Problem(N_("invalid timer expression '%(value)s' (%(kind)s)"), element, label,
                                    params={"value": value, "kind": kind}))
    return problems
