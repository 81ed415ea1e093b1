"""Test runs from the modeler: the diagram being edited runs with sample data in a throwaway
instance that is never stored — no process instance row, no human task in any inbox, no
notification, no message routed to other processes. The designer fills each task's form in turn
(validated like the real form), may fire waiting timers at once, and sees the path taken.

The state travels with the client between steps (the web layer signs it, so it cannot be
forged); every step builds the process again from the diagram sent with it, exactly as deploy
would (the deployed processes it calls included).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.util.task import TaskState as SpiffState
from sqlalchemy.orm import Session

from app.data.models import User
from app.engine import codec
from app.engine.definitions.confirm import form_key_of
from app.engine.definitions.deploy import BuiltProcess, build_process
from app.engine.definitions.lookup import start_message, task_properties
from app.engine.errors import DefinitionError, NotFound, Problem
from app.engine.parser import called_processes, parse_sources, process_ids
from app.engine.progress import waiting_events
from app.engine.projection import latest_data
from app.formkit.build import schema, validate_data
from app.formkit.definition import sample_data
from app.i18n import N_
from app.services.choices import DatabaseChoices
from app.services.designer import diagram_sources, require_designer, validate_diagram
from app.services.setup import known_department_names

MAX_STATE_BYTES = 2 * 1024 * 1024


class FormInvalid(Exception):
    """The data entered for a task does not pass its form's validation."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("form invalid")
        self.errors = errors


@dataclass
class TestRun:
    """Where a test run stands: its state, status and the path so far."""

    process: str
    state: str
    status: str  # running, completed or stopped (an engine failure, or nothing more can happen)
    message: str | None = None
    completed: list[str] = field(default_factory=list)
    active: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    tasks: list[dict[str, Any]] = field(default_factory=list)
    timers: int = 0
    thrown: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)


def _build(session: Session, filename: str, xml: str) -> BuiltProcess:
    """The first process of the diagram that can be started by hand, built as deploy builds it."""
    problems = validate_diagram(session, filename, xml)
    if problems:
        raise DefinitionError(problems=problems)
    sources = diagram_sources(filename, xml)
    parser = parse_sources(sources)
    uploaded = set(parser.process_parsers)
    known = known_department_names(session)
    for pid in process_ids(parser):
        built, found = build_process(session, parser, sources, pid, called_processes(parser, pid) - uploaded, {},
                                     known)
        if found or built is None:
            raise DefinitionError(problems=found)
        if start_message(built.spec) is None:
            return built
    raise DefinitionError(problems=[Problem(N_(
        "No process of this diagram can be started by hand (each starts with a message): test the process that "
        "sends the message."))])


def _form(built: BuiltProcess, task_spec: Any) -> dict[str, Any] | None:
    key = form_key_of(task_spec)
    form = built.forms.get(key) if key else None
    return form if isinstance(form, dict) or form is None else form.content


def _element(task: Any) -> str:
    return str(getattr(task.task_spec, "bpmn_id", None) or task.task_spec.name)


def _describe(session: Session, built: BuiltProcess, workflow: BpmnWorkflow, failure: str | None,
              locale: str) -> TestRun:
    run = TestRun(process=built.spec.name, state=codec.dumps(workflow), status="running", message=failure)
    for task in workflow.get_tasks():
        if not getattr(task.task_spec, "bpmn_id", None):
            continue
        if task.state == SpiffState.COMPLETED:
            run.completed.append(_element(task))
        elif task.state in (SpiffState.WAITING, SpiffState.STARTED):
            run.waiting.append(_element(task))
    choices = DatabaseChoices(session)
    for task in workflow.get_tasks(state=SpiffState.READY, manual=True):
        definition = _form(built, task.task_spec)
        props = task_properties(task.task_spec)
        run.active.append(_element(task))
        run.tasks.append({
            "id": str(task.id),
            "element": _element(task),
            "title": getattr(task.task_spec, "bpmn_name", None) or _element(task),
            "department": props.get("department") or task.task_spec.lane or "",
            "form_key": form_key_of(task.task_spec),
            "form": schema(definition, locale, choices) if definition else None,
            "sample": codec.jsonable(sample_data(definition)) if definition else {},
        })
    run.timers = sum(1 for e in waiting_events(workflow) if e.event_type.endswith("TimerEventDefinition"))
    run.thrown = [str(getattr(e.event_definition, "name", "") or "") for e in workflow.get_events()]
    run.data = codec.jsonable(latest_data(workflow))
    if failure:
        run.status = "stopped"
    elif workflow.is_completed():
        run.status = "completed"
    elif not run.tasks and not run.timers:
        run.status = "stopped"
        run.message = N_("Nothing more can happen: no task is open and no timer is waiting.")
    run.completed = sorted(set(run.completed) - set(run.active))
    run.waiting = sorted(set(run.waiting) - set(run.completed))
    return run


def start(session: Session, runtime: Any, filename: str, xml: str, data: dict[str, Any], actor: User,
          locale: str = "zh") -> TestRun:
    """Start a test run of the diagram with ``data`` as the start data."""
    require_designer(actor)
    built = _build(session, filename, xml)
    workflow = BpmnWorkflow(built.spec, built.subprocess_specs, script_engine=runtime.script_engine())
    start_task = workflow.get_next_task(state=SpiffState.READY)
    if start_task is not None and data:
        start_task.set_data(**data)
    return _describe(session, built, workflow, runtime.advance(workflow), locale)


def _resume(session: Session, runtime: Any, filename: str, xml: str, state: str) -> tuple[BuiltProcess, Any]:
    if len(state) > MAX_STATE_BYTES:
        raise NotFound(N_("The test run has ended; start it again."))
    built = _build(session, filename, xml)
    try:
        workflow = codec.loads(state, built.spec, built.subprocess_specs, runtime.script_engine())
    except Exception as exc:  # noqa: BLE001 - the diagram changed under the run: its state no longer fits
        raise NotFound(N_("The diagram changed since the test run started; start it again.")) from exc
    return built, workflow


def complete(session: Session, runtime: Any, filename: str, xml: str, state: str, task_id: str,
             payload: dict[str, Any], actor: User, locale: str = "zh") -> TestRun:
    """Complete a task of the test run with form data (validated like the real form)."""
    require_designer(actor)
    built, workflow = _resume(session, runtime, filename, xml, state)
    try:
        task = workflow.get_task_from_id(UUID(task_id))
    except (ValueError, KeyError):
        task = None
    if task is None or task.state != SpiffState.READY or not task.task_spec.manual:
        raise NotFound(N_("This task is no longer open in the test run."))
    definition = _form(built, task.task_spec)
    data = payload
    if definition is not None:
        validation = validate_data(definition, payload, locale, DatabaseChoices(session))
        if not validation.ok:
            raise FormInvalid(validation.errors)
        data = validation.data
    failure = None
    try:
        task.set_data(**data)
        task.run()
    except Exception as exc:  # noqa: BLE001 - shown to the designer like an incident
        failure = str(exc)
    return _describe(session, built, workflow, failure or runtime.advance(workflow), locale)


def fire_timers(session: Session, runtime: Any, filename: str, xml: str, state: str, actor: User,
                locale: str = "zh") -> TestRun:
    """Let every waiting timer of the test run fire now, instead of waiting for it."""
    require_designer(actor)
    built, workflow = _resume(session, runtime, filename, xml, state)
    for task in list(workflow.event_manager.tasks.values()):
        definition = task.task_spec.event_definition
        parts = definition.event_definitions if isinstance(definition, MultipleEventDefinition) else [definition]
        if any(isinstance(part, TimerEventDefinition) for part in parts):
            task._set_internal_data(event_fired=True)
    return _describe(session, built, workflow, runtime.advance(workflow), locale)
