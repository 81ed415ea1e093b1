"""Deploying BPMN and form definitions as immutable versions, and loading their specs."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.bpmn.specs.mixins.exclusive_gateway import ExclusiveGateway
from SpiffWorkflow.bpmn.specs.mixins.inclusive_gateway import InclusiveGateway
from SpiffWorkflow.bpmn.specs.mixins.script_task import ScriptTask
from SpiffWorkflow.bpmn.specs.mixins.user_task import UserTask
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from app.data.models import FormDefinition, ProcessDefinition
from app.engine.errors import DefinitionError, NotFound, Problem
from app.engine.parser import (
    ParsedSpec,
    build_specs,
    called_processes,
    iter_task_specs,
    parse_sources,
    process_ids,
    sha256,
    spec_cache,
)
from app.engine.properties import access_problems
from app.engine.sandbox import check_source
from app.formkit.definition import content_hash, validate_definition


def task_properties(task_spec: Any) -> dict[str, str]:
    """Our extension properties on a task (``spiffworkflow:property`` elements)."""
    extensions = getattr(task_spec, "extensions", None) or {}
    return dict(extensions.get("properties") or {})


def is_user_task(task_spec: Any) -> bool:
    return isinstance(task_spec, UserTask) or getattr(task_spec, "manual", False)


@dataclass
class DeployResult:
    definitions: list[ProcessDefinition] = field(default_factory=list)
    created: list[ProcessDefinition] = field(default_factory=list)
    forms: dict[str, FormDefinition] = field(default_factory=dict)


# ---------------------------------------------------------------------------- forms


def latest_form(session: Session, key: str) -> FormDefinition | None:
    return session.scalars(
        select(FormDefinition).where(FormDefinition.key == key).order_by(FormDefinition.version.desc()).limit(1)
    ).first()


def deploy_forms(
    session: Session, forms: dict[str, dict[str, Any]], actor_id: int | None = None
) -> dict[str, FormDefinition]:
    """Store each form as a new version unless its content equals the latest version."""
    problems = [
        Problem(f"form {key}: {p}", element_id=key)
        for key, definition in forms.items()
        for p in validate_definition(definition, key=key)
    ]
    if problems:
        raise DefinitionError(problems=problems)
    result: dict[str, FormDefinition] = {}
    for key, definition in forms.items():
        digest = content_hash(definition)
        current = latest_form(session, key)
        if current is not None and current.content_hash == digest:
            result[key] = current
            continue
        row = FormDefinition(
            key=key,
            version=(current.version + 1) if current else 1,
            content_hash=digest,
            content=definition,
            created_by_id=actor_id,
        )
        session.add(row)
        session.flush()
        result[key] = row
    return result


# ---------------------------------------------------------------------------- processes


def latest_definition(session: Session, key: str) -> ProcessDefinition | None:
    return session.scalars(
        select(ProcessDefinition)
        .where(ProcessDefinition.key == key)
        .order_by(ProcessDefinition.version.desc())
        .limit(1)
    ).first()


def _collect_dependency_sources(
    session: Session, missing: Iterable[str], sources: dict[str, str], bound: dict[str, int]
) -> list[Problem]:
    """Add the XML of deployed definitions for called processes not in the upload."""
    problems: list[Problem] = []
    pending = list(missing)
    while pending:
        key = pending.pop()
        if key in bound:
            continue
        definition = latest_definition(session, key)
        if definition is None:
            problems.append(Problem(f"called process '{key}' is not deployed", element_id=key))
            continue
        bound[key] = definition.id
        if definition.bpmn_xml not in sources.values():  # one file may hold several processes
            sources[f"deployed:{definition.key}:v{definition.version}"] = definition.bpmn_xml
        for dep_key in definition.dependencies or {}:
            pending.append(dep_key)
    return problems


def _check_rules(
    spec: Any,
    subprocess_specs: dict[str, Any],
    forms: dict[str, FormDefinition],
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
        for message in access_problems(props, isinstance(ts, UserTask), user_tasks, known_approvals):
            problem(message)
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
            elif schedule_error(schedule):
                problem(schedule_error(schedule))
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


def _callees_first(ids: list[str], calls: dict[str, set[str]]) -> list[str]:
    """Process ids ordered so that every process comes after the processes it calls."""
    ordered: list[str] = []
    visiting: set[str] = set()

    def visit(pid: str) -> None:
        if pid in ordered or pid in visiting:
            return
        visiting.add(pid)
        for callee in sorted(calls.get(pid, ())):
            if callee in calls:
                visit(callee)
        visiting.discard(pid)
        ordered.append(pid)

    for pid in ids:
        visit(pid)
    return ordered


def deploy(
    session: Session,
    sources: dict[str, str],
    forms: dict[str, dict[str, Any]] | None = None,
    actor_id: int | None = None,
    known_departments: set[str] | None = None,
    known_approvals: set[str] | None = None,
) -> DeployResult:
    """Validate and deploy BPMN files (and the forms they use) as new immutable versions.

    Each executable process becomes a definition version; content equal to the latest
    version of its key (diagram, called processes and forms alike) deploys nothing new.
    Raises DefinitionError listing every problem, each naming its element.
    """
    parser = parse_sources(sources)
    result = DeployResult()
    result.forms = deploy_forms(session, forms or {}, actor_id)
    ids = process_ids(parser)
    if not ids:
        raise DefinitionError(problems=[Problem("no executable process (isExecutable=\"true\")")])
    problems: list[Problem] = []
    uploaded = set(parser.process_parsers)
    calls = {pid: called_processes(parser, pid) for pid in ids}
    deployed: dict[str, ProcessDefinition] = {}
    for pid in _callees_first(ids, calls):
        file_name = parser.get_process_parser(pid).filename or ""
        xml = sources.get(file_name) or next(iter(sources.values()))
        # Callees in this upload bind to the version deployed just now; others to the
        # latest deployed version, whose XML joins the sources for building the spec.
        bound = {key: deployed[key].id for key in calls[pid] & uploaded if key in deployed}
        if calls[pid] & uploaded - set(bound):
            problems.append(Problem("a called process in this upload could not be deployed", element_id=pid))
            continue
        combined = dict(sources)
        from_db: dict[str, int] = {}
        problems += _collect_dependency_sources(session, calls[pid] - uploaded, combined, from_db)
        if problems:
            continue
        bound.update(from_db)
        try:
            full = parse_sources(combined, validate=False) if from_db else parser
            spec, subprocess_specs = build_specs(full, pid, file_name)
        except DefinitionError as exc:
            problems += exc.problems
            continue
        used_forms = {
            props["formKey"]
            for ts in iter_task_specs(spec, subprocess_specs)
            if (props := task_properties(ts)).get("formKey")
        }
        available = dict(result.forms)
        for key in used_forms - set(available):
            existing = latest_form(session, key)
            if existing is not None:
                available[key] = existing
        found = _check_rules(spec, subprocess_specs, available, known_departments, known_approvals)
        problems += [
            Problem(p.message, p.element_id, p.element_name, file_name, p.line) for p in found
        ]
        if found:
            continue
        form_ids = {key: available[key].id for key in sorted(used_forms)}
        dep_hashes = sorted(
            session.get(ProcessDefinition, dep_id).spec_hash for dep_id in bound.values()
        )
        form_hashes = sorted(available[key].content_hash for key in used_forms)
        content = sha256(xml)
        spec_hash = sha256("|".join([pid, content, *dep_hashes, *form_hashes]))
        current = latest_definition(session, pid)
        if current is not None and current.spec_hash == spec_hash:
            result.definitions.append(current)
            deployed[pid] = current
            continue
        row = ProcessDefinition(
            key=pid,
            version=(current.version + 1) if current else 1,
            name=spec.description if spec.description != pid else None,
            source_name=file_name,
            content_hash=content,
            spec_hash=spec_hash,
            bpmn_xml=xml,
            dependencies=bound,
            forms=form_ids,
            deployed_by_id=actor_id,
        )
        session.add(row)
        session.flush()
        result.definitions.append(row)
        result.created.append(row)
        deployed[pid] = row
    if problems:
        raise DefinitionError(problems=problems)
    return result


def get_definition(session: Session, definition_id: int) -> ProcessDefinition:
    definition = session.get(ProcessDefinition, definition_id)
    if definition is None:
        raise NotFound(f"process definition {definition_id} not found")
    return definition


def _sources_for(session: Session, definition: ProcessDefinition) -> dict[str, str]:
    sources = {f"{definition.key}:v{definition.version}": definition.bpmn_xml}
    pending = list((definition.dependencies or {}).values())
    seen: set[int] = set()
    while pending:
        dep = get_definition(session, pending.pop())
        if dep.id in seen:
            continue
        seen.add(dep.id)
        if dep.bpmn_xml not in sources.values():  # one file may hold several processes
            sources[f"{dep.key}:v{dep.version}"] = dep.bpmn_xml
        pending.extend((dep.dependencies or {}).values())
    return sources


def load_spec(session: Session, definition: ProcessDefinition) -> ParsedSpec:
    """The parsed spec of a deployed definition, from the cache when possible."""

    def build() -> ParsedSpec:
        parser = parse_sources(_sources_for(session, definition), validate=False)
        spec, subprocess_specs = build_specs(parser, definition.key)
        return ParsedSpec(spec, subprocess_specs)

    return spec_cache.get(definition.spec_hash, build)


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


def live_definitions(session: Session) -> list[ProcessDefinition]:
    """The live (latest) version of every deployed process, in key order, in one query."""
    latest = (
        select(ProcessDefinition.key, func.max(ProcessDefinition.version).label("version"))
        .group_by(ProcessDefinition.key)
        .subquery()
    )
    return list(session.scalars(
        select(ProcessDefinition)
        .join(latest, and_(ProcessDefinition.key == latest.c.key, ProcessDefinition.version == latest.c.version))
        .order_by(ProcessDefinition.key)
    ))


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


def start_message(spec: Any) -> str | None:
    """The message name the process's start event waits for, or None for a plain start."""
    for task_spec in spec.task_specs.values():
        event_definition = getattr(task_spec, "event_definition", None)
        if isinstance(task_spec, StartEvent) and isinstance(event_definition, MessageEventDefinition):
            return event_definition.name
    return None


def message_start_processes(session: Session, message_name: str) -> list[ProcessDefinition]:
    """The live versions of the processes whose start event catches ``message_name``: a
    message thrown and not caught inside its own instance starts one instance of each."""
    return [
        definition for definition in live_definitions(session)
        if start_message(load_spec(session, definition).spec) == message_name
    ]


def definition_summaries(session: Session) -> list[dict[str, Any]]:
    """Every process key with its versions and the live (latest) version."""
    rows = session.execute(
        select(ProcessDefinition.key, func.max(ProcessDefinition.version), func.count())
        .group_by(ProcessDefinition.key)
        .order_by(ProcessDefinition.key)
    ).all()
    return [{"key": key, "live_version": live, "versions": count} for key, live, count in rows]


# ---------------------------------------------------------------------------- validation without storing


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
    import ast

    from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
        CycleTimerEventDefinition,
        DurationTimerEventDefinition,
        TimeDateEventDefinition,
    )

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
            continue  # computed at run time from the process data; compiled in the sandbox by _check_rules
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


def validate_sources(
    session: Session,
    sources: dict[str, str],
    known_departments: set[str] | None = None,
    forms: dict[str, dict[str, Any]] | None = None,
    known_approvals: set[str] | None = None,
) -> list[Problem]:
    """Every problem :func:`deploy` would find (plus path and timer checks), storing nothing.

    ``forms`` are form definitions not deployed yet that the diagram may use.
    """
    from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
    from SpiffWorkflow.exceptions import SpiffWorkflowException

    from app.engine.parser import _problem_from

    problems: list[Problem] = []
    try:
        parser = parse_sources(sources)
    except DefinitionError as exc:
        return list(exc.problems)
    available: dict[str, Any] = {}
    for key, definition in (forms or {}).items():
        found = validate_definition(definition, key=key)
        problems += [Problem(f"form {key}: {p}", element_id=key) for p in found]
        available[key] = definition
    ids = process_ids(parser)
    if not ids:
        return [*problems, Problem("no executable process (isExecutable=\"true\")")]
    uploaded = set(parser.process_parsers)
    for pid in ids:
        file_name = parser.get_process_parser(pid).filename or ""
        combined = dict(sources)
        from_db: dict[str, int] = {}
        try:
            missing = called_processes(parser, pid) - uploaded
        except (ValidationException, SpiffWorkflowException) as exc:
            problems.append(_problem_from(exc, file_name))
            continue
        dep_problems = _collect_dependency_sources(session, missing, combined, from_db)
        if dep_problems:
            problems += dep_problems
            continue
        try:
            full = parse_sources(combined, validate=False) if from_db else parser
            spec, subprocess_specs = build_specs(full, pid, file_name)
        except DefinitionError as exc:
            problems += exc.problems
            continue
        for ts in iter_task_specs(spec, subprocess_specs):
            key = task_properties(ts).get("formKey")
            if key and key not in available:
                existing = latest_form(session, key)
                if existing is not None:
                    available[key] = existing
        found = _check_rules(spec, subprocess_specs, available, known_departments, known_approvals)
        problems += [Problem(p.message, p.element_id, p.element_name, file_name, p.line) for p in found]
    unique: list[Problem] = []
    for problem in problems:
        if problem not in unique:
            unique.append(problem)
    return unique
