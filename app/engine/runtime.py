"""The engine service: start, complete, fire timers, deliver messages — each one transaction.

Every operation locks the instance row, loads the workflow, runs SpiffWorkflow, saves the
state with its serializer version, refreshes the projections the UI reads (open human
tasks, the next timer due time, status) and writes an audit event. Callers own the
transaction: they commit on success and roll back on error, so either all of it lands
or none of it does.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.exceptions import WorkflowException
from SpiffWorkflow.util.task import TaskState as SpiffState
from sqlalchemy import Integer, String, bindparam, select, update
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session, aliased, joinedload
from sqlalchemy.orm.exc import StaleDataError

import app.engine.calendar  # noqa: F401  (registers the working-time helpers)
import app.engine.timeshim  # noqa: F401  (timers read the application clock)
from app.clock import clock
from app.data import core_insert, merged_updates
from app.data.models import (
    Case,
    CaseSearch,
    HumanTask,
    InstanceStatus,
    ProcessDefinition,
    ProcessInstance,
    TaskState,
)
from app.data.transaction_memo import transaction_key
from app.engine import audit, codec, limits
from app.engine.context import Actor, Hook, RunContext
from app.engine.deadlines import DeadlineMove, DeadlineRecordingEngine, recompute
from app.engine.definitions.lookup import latest_definition, load_spec, message_start_processes, start_message
from app.engine.errors import ConcurrentUpdate, EngineError, InstanceNotRunning, NotFound, TaskNotOpen
from app.engine.helpers import helpers, to_datetime
from app.engine.progress import OPEN_ROWS, refresh_conditions, stall_reason
from app.engine.projection import TaskProjector, latest_data, next_timer_due, task_states
from app.engine.sandbox import DEFAULT_CPU_LIMIT, make_script_engine
from app.i18n import N_

log = logging.getLogger(__name__)

ACTIVE_STATES = SpiffState.READY | SpiffState.WAITING | SpiffState.STARTED
#: How deep a chain of message-started instances may go in one operation (A starts B starts
#: C ...): a diagram whose message starts itself must not loop for ever.
MAX_MESSAGE_CHAIN = 5
#: ``Session.info`` key of the workflow :meth:`WorkflowRuntime.task_data` read last
LOADED_KEY = "engine.loaded_workflow"
#: ``Session.info`` key: by task id, the instance :meth:`WorkflowRuntime.task_data` locked for the
#: task's completion that follows in the transaction, with its tasks read under the lock
LOCKED_KEY = transaction_key("engine.locked_for_completion")
#: ``Session.info`` key: by instance id, its open human tasks as the transaction's last save of it
#: left them (:meth:`WorkflowRuntime.open_tasks_after`)
OPEN_AFTER_KEY = transaction_key("engine.open_after_save")


#: the rows an operation updates together: the completed task and its instance, the case and its
#: search document — one statement each pair on PostgreSQL
merged_updates.register(ProcessInstance, HumanTask, Case, CaseSearch)
#: the task rows an operation opens: one Core INSERT each flush instead of the unit of work's
core_insert.register(HumanTask)


@sa_event.listens_for(Session, "after_soft_rollback")
def _forget_loaded(session: Session, _previous: Any) -> None:
    """A rolled-back save's lock_version may be reached again by another save, so a workflow
    remembered under it would no longer be unique to that version."""
    session.info.pop(LOADED_KEY, None)


# The statements of WorkflowRuntime._lock, built once (building them, the alias above all, was
# most of the lock's Python cost); parameters ``instance_id`` and ``task_id``.
_INSTANCE_ID = bindparam("instance_id", type_=Integer)
#: the human tasks read with the lock: the one being completed and the instance's open ones
_WANTED = (HumanTask.id == bindparam("task_id", type_=String)) | (HumanTask.state == TaskState.OPEN)
#: the instance's definition comes with it (the relationship is joined), but not its BPMN source: a
#: definition is immutable, its parsed spec is cached, and the source is the widest value of all
#: (tens of kB on production diagrams, TOASTed), read and decoded again on every lock otherwise
_DEFINITION = joinedload(ProcessInstance.definition).defer(ProcessDefinition.bpmn_xml)
#: SQLite: a no-op write takes the database write lock
_touch = (update(ProcessInstance).where(ProcessInstance.id == _INSTANCE_ID)
          .values(lock_version=ProcessInstance.lock_version))
_TOUCH = _touch.execution_options(synchronize_session=False)
_TOUCH_RETURNING = _touch.returning(ProcessInstance).execution_options(populate_existing=True)
_WITH_TASKS = (select(ProcessInstance, HumanTask)
               .outerjoin(HumanTask, (HumanTask.instance_id == ProcessInstance.id) & _WANTED)
               .where(ProcessInstance.id == _INSTANCE_ID).options(_DEFINITION)
               .execution_options(populate_existing=True))
#: PostgreSQL: the row lock, alone or with the tasks and the version the statement's snapshot saw
_LOCK = (select(ProcessInstance).where(ProcessInstance.id == _INSTANCE_ID).options(_DEFINITION)
         .with_for_update(of=ProcessInstance).execution_options(populate_existing=True))
_seen = aliased(ProcessInstance)
_LOCK_WITH_TASKS = (
    select(ProcessInstance, HumanTask,
           select(_seen.lock_version).where(_seen.id == _INSTANCE_ID).scalar_subquery().label("seen_version"))
    .outerjoin(HumanTask, (HumanTask.instance_id == ProcessInstance.id) & _WANTED)
    .where(ProcessInstance.id == _INSTANCE_ID).options(_DEFINITION)
    .with_for_update(of=ProcessInstance).execution_options(populate_existing=True)
)
#: the instance's open human tasks, read fresh
_OPEN_TASKS = OPEN_ROWS.execution_options(populate_existing=True)
#: the tasks again, when a save committed while the lock was awaited
_TASKS = (select(HumanTask).where(HumanTask.instance_id == _INSTANCE_ID, _WANTED)
          .execution_options(populate_existing=True))


#: How often conditional events are re-evaluated after the steps of one operation (a condition
#: that keeps firing in a loop must not run for ever).
MAX_CONDITION_ROUNDS = 20


class WorkflowRuntime:
    """Runs process instances; stateless apart from its hooks, so one per process is enough."""

    def __init__(
        self,
        hooks: list[Hook] | None = None,
        script_cpu_limit: float = DEFAULT_CPU_LIMIT,
        extra_helpers: dict[str, Callable[..., Any]] | None = None,
        max_multi_instance: int | None = None,
        script_cpu_budget: float | None = None,
    ) -> None:
        self.hooks: list[Hook] = list(hooks or [])
        self.script_cpu_limit = script_cpu_limit  # CPU seconds per diagram script or expression
        # bounded work per operation (app.engine.limits); None: the process-wide setting
        self.max_multi_instance = max_multi_instance
        self.script_cpu_budget = script_cpu_budget
        self.extra_helpers = dict(extra_helpers or {})  # e.g. days_late in the configured basis
        self.projector = TaskProjector()

    # ------------------------------------------------------------------ plumbing

    def script_engine(self) -> PythonScriptEngine:
        """A fresh script engine per operation: its CPU budget covers that operation's code."""
        budget = limits.settings.script_cpu_budget if self.script_cpu_budget is None else self.script_cpu_budget
        engine = make_script_engine({**helpers(), **self.extra_helpers}, self.script_cpu_limit,
                                    engine_class=DeadlineRecordingEngine, cpu_budget=budget)
        engine.max_multi_instance = (limits.settings.max_multi_instance if self.max_multi_instance is None
                                     else self.max_multi_instance)
        return engine

    def lock(self, session: Session, instance_id: int) -> ProcessInstance:
        """Lock the instance row for this transaction and return it fresh from the database."""
        instance, _rows = self._lock(session, instance_id)
        return instance

    def _lock(self, session: Session, instance_id: int,
              task_id: str | None = None) -> tuple[ProcessInstance, list[HumanTask]]:
        """Lock the instance row and read it fresh — with ``task_id``: and, read after the lock is
        held, that human task (if it is the instance's) and the instance's open human tasks, which
        the projection then starts from instead of reading them again."""
        params = {"instance_id": instance_id, "task_id": task_id}
        if session.get_bind().dialect.name == "sqlite":
            # SQLite has no row locks: a no-op write takes the database write lock now,
            # so a competing writer waits (busy timeout) instead of failing later; every
            # read after it sees the last commit, so the tasks come with the instance.
            if task_id is None:  # one statement: the write that locks returns the row
                found = session.scalars(_TOUCH_RETURNING, params).first()
                if found is None:
                    raise NotFound(f"process instance {instance_id} not found")
                return found, []
            session.execute(_TOUCH, params)
            rows = session.execute(_WITH_TASKS, params).all()
            if not rows:
                raise NotFound(f"process instance {instance_id} not found")
            return rows[0][0], [row[1] for row in rows if row[1] is not None]
        if task_id is None:
            instance = session.scalars(_LOCK, params).first()
            if instance is None:
                raise NotFound(f"process instance {instance_id} not found")
            return instance, []
        # The tasks joined to the locking statement, with the instance's version as that
        # statement's snapshot saw it: after waiting for the lock, READ COMMITTED re-reads only
        # the locked row, so the joined tasks are current only if no save of the instance (each
        # bumps lock_version, and the tasks change only in saves) committed in between.
        joined = session.execute(_LOCK_WITH_TASKS, params).all()
        if not joined:
            raise NotFound(f"process instance {instance_id} not found")
        instance = joined[0][0]
        tasks = [row[1] for row in joined if row[1] is not None]
        if joined[0].seen_version == instance.lock_version:
            return instance, tasks
        for stale in tasks:  # read before the save we waited for: not to be trusted later
            session.expire(stale)
        return instance, list(session.scalars(_TASKS, params))

    @staticmethod
    def open_tasks_after(session: Session, instance_id: int) -> list[HumanTask] | None:
        """The instance's open human tasks, oldest first (ties by id), as this transaction's last save of it
        left them — what a client asks next after a start or a completion, known without a
        query; None when the transaction saved no such instance."""
        rows = session.info.get(OPEN_AFTER_KEY, {}).get(instance_id)
        if rows is None:
            return None
        return sorted((row for row in rows if row.state == TaskState.OPEN), key=lambda row: (row.created_at, row.id))

    def load(self, session: Session, instance: ProcessInstance) -> BpmnWorkflow:
        parsed = load_spec(session, instance.definition)
        return codec.loads(instance.state, parsed.spec, parsed.subprocess_specs, self.script_engine(),
                           row_version=instance.serializer_version)

    # A request that reads a task's data (to validate a submission against the files it
    # has) and then completes it would deserialize the workflow twice. task_data keeps the
    # workflow it loaded in the session, keyed by the row's lock_version; complete_task takes
    # it only when the locked, freshly read row still has that version — i.e. nobody saved
    # the instance in between — and otherwise loads again. One slot: a session keeps at most
    # one workflow alive.

    @staticmethod
    def _remember(session: Session, instance: ProcessInstance, workflow: BpmnWorkflow) -> None:
        session.info[LOADED_KEY] = ((instance.id, instance.lock_version), workflow)

    @staticmethod
    def _remembered(session: Session, instance: ProcessInstance, take: bool = False) -> BpmnWorkflow | None:
        """The workflow task_data read of exactly this version of ``instance`` (``take``: and
        forget it, because the caller is going to change it)."""
        slot = session.info.get(LOADED_KEY)
        if slot is None or slot[0] != (instance.id, instance.lock_version):
            return None
        if take:
            del session.info[LOADED_KEY]
        return slot[1]

    def advance(self, workflow: BpmnWorkflow) -> str | None:
        """Run engine steps on a workflow that is not stored (the designer's test runs)."""
        return self._advance(workflow)

    def _advance(self, workflow: BpmnWorkflow) -> str | None:
        """Run engine steps and due timers; an error becomes an incident message."""
        try:
            workflow.do_engine_steps()
            workflow.refresh_timers()
            workflow.do_engine_steps()
            for _round in range(MAX_CONDITION_ROUNDS):  # conditions read data the steps may have changed
                if not refresh_conditions(workflow):
                    break
                workflow.do_engine_steps()
        except Exception as exc:  # noqa: BLE001 - any engine failure must become an incident
            log.exception("engine step failed")
            return _describe_failure(exc)
        return None

    @staticmethod
    def _audit(session: Session, instance: ProcessInstance, ctx: RunContext, **fields: Any) -> None:
        audit.record(session, actor=ctx.actor, action=fields.pop("action", ctx.action), instance=instance, **fields)

    def _save(self, session: Session, instance: ProcessInstance, workflow: BpmnWorkflow, ctx: RunContext) -> None:
        now = clock.now()
        ctx.had_timer = instance.status == InstanceStatus.RUNNING and instance.next_due_at is not None
        # Route thrown events first: the saved state keeps the workflow's pending event list,
        # so routing after the dump would route the same message again on every later save.
        if instance.id is None and workflow.bpmn_events:
            self._flush(session)  # a new instance: its events' audit names it
        self._route_events(session, instance, workflow, ctx)
        instance.state = codec.dumps(workflow)
        instance.serializer_version = codec.SERIALIZER_VERSION
        instance.updated_at = now
        instance.next_due_at = None
        if ctx.incident:
            instance.status = InstanceStatus.INCIDENT
            instance.incident_message = ctx.incident
        elif workflow.is_completed():
            instance.status = InstanceStatus.COMPLETED
            instance.completed_at = now
        elif not workflow.get_tasks(state=ACTIVE_STATES):
            ctx.incident = limits.STALLED
            instance.status = InstanceStatus.INCIDENT
            instance.incident_message = ctx.incident
        else:
            instance.status = InstanceStatus.RUNNING
            instance.incident_message = None
            instance.next_due_at = next_timer_due(workflow)
        self._flush(session)  # the versioned UPDATE: a concurrent change surfaces here, not mid-projection
        open_rows = self.projector.sync(session, instance, workflow, ctx)
        if instance.status == InstanceStatus.RUNNING and (
            stalled := stall_reason(session, instance, workflow, open_rows)
        ):
            ctx.incident = stalled  # nothing waits silently: no one can act and no timer is pending
            instance.status = InstanceStatus.INCIDENT
            instance.incident_message = stalled
        if ctx.incident:
            self._audit(session, instance, ctx, action="incident", message=ctx.incident)
        for hook in self.hooks:
            hook(session, instance, workflow, ctx)
        self._flush(session)
        session.info.setdefault(OPEN_AFTER_KEY, {})[instance.id] = list(open_rows)

    @staticmethod
    def _flush(session: Session) -> None:
        try:
            session.flush()
        except StaleDataError as exc:
            raise ConcurrentUpdate(N_("The process was changed by someone else; please try again.")) from exc

    def _route_events(
        self, session: Session, instance: ProcessInstance, workflow: BpmnWorkflow, ctx: RunContext
    ) -> None:
        """Thrown events nobody in this instance caught: a message starts the processes whose
        start event catches it (same transaction, same case); every event is audited so none
        is lost."""
        for event in workflow.get_events():
            name = getattr(event.event_definition, "name", type(event.event_definition).__name__)
            started: list[int] = []
            if isinstance(event.event_definition, MessageEventDefinition):
                targets = message_start_processes(session, name)
                if targets and ctx.chain >= MAX_MESSAGE_CHAIN:
                    log.warning("message %s of instance %s not routed: chain too long", name, instance.id)
                    targets = []
                for definition in targets:
                    child = self.start(
                        session, definition.key, actor=ctx.actor, case_id=instance.case_id,
                        definition=definition, message=event, chain=ctx.chain + 1,
                    )
                    started.append(child.id)
            self._audit(
                session, instance, ctx, action="event_thrown", element=name,
                after={"payload": event.payload, "started_instances": started},
            )

    # ------------------------------------------------------------------ operations

    def start(
        self,
        session: Session,
        process_key: str,
        data: dict[str, Any] | None = None,
        actor: Actor | None = None,
        case_id: int | None = None,
        business_key: str | None = None,
        definition: ProcessDefinition | None = None,
        message: BpmnEvent | None = None,
        chain: int = 0,
    ) -> ProcessInstance:
        """Start the live version of ``process_key`` (or the given definition version).

        A process whose start event waits for a message is started only with that
        ``message`` (routed from the instance that threw it); its payload lands in the
        data the way the diagram's start event says.
        """
        actor = actor or Actor.system()
        definition = definition or latest_definition(session, process_key)
        if definition is None:
            raise NotFound(f"process '{process_key}' is not deployed")
        parsed = load_spec(session, definition)
        awaited = start_message(parsed.spec)
        if message is None and awaited is not None:
            raise EngineError(
                N_("This process is started by a message from another process; it cannot be started by hand."),
                message_name=awaited,
            )
        workflow = BpmnWorkflow(parsed.spec, parsed.subprocess_specs, script_engine=self.script_engine())
        start_task = workflow.get_next_task(state=SpiffState.READY)
        if start_task is not None and data:
            start_task.set_data(**data)
        instance = ProcessInstance(
            definition_id=definition.id,
            process_key=definition.key,
            case_id=case_id,
            business_key=business_key,
            status=InstanceStatus.RUNNING,
            state="",
            serializer_version=codec.SERIALIZER_VERSION,
            started_by_id=actor.id,
            started_at=clock.now(),
        )
        instance.definition = definition
        session.add(instance)  # inserted by the save's flush, with its state (no UPDATE right after)
        ctx = RunContext(actor, "process_started", chain=chain)
        ctx.prefetched, ctx.states_before = {}, {}  # a new instance has no task rows: none to read
        if message is not None:
            ctx.incident = self._catch_start_message(workflow, message)
        ctx.incident = ctx.incident or self._advance(workflow)
        self._save(session, instance, workflow, ctx)
        self._audit(
            session, instance, ctx, element=definition.key,
            message=f"{definition.key} v{definition.version}",
            after=data or ({"message": awaited, "payload": message.payload} if message else {}),
        )
        return instance

    @staticmethod
    def _catch_start_message(workflow: BpmnWorkflow, message: BpmnEvent) -> str | None:
        """Run up to the message start event and hand it the message."""
        try:
            workflow.do_engine_steps()
            workflow.send_event(BpmnEvent(message.event_definition, message.payload))
        except Exception as exc:  # noqa: BLE001 - any engine failure must become an incident
            log.exception("start message not caught")
            return _describe_failure(exc)
        return None

    def complete_task(
        self,
        session: Session,
        task_id: str,
        data: dict[str, Any],
        actor: Actor,
        submit_token: str | None = None,
    ) -> HumanTask:
        """Complete an open human task with form data and run the process on.

        A repeated submit with the same token returns the completed task (a double click
        completes once); any other submit on a task that is no longer open is refused.
        """
        row = session.get(HumanTask, task_id)
        if row is None:
            raise NotFound("task not found")
        # what task_data locked for this completion (taken: the completion changes the rows)
        locked: tuple[ProcessInstance, list[HumanTask]] | None = session.info.pop(LOCKED_KEY, {}).get(task_id)
        if locked is not None:
            instance, rows = locked
        else:
            instance, rows = self._lock(session, row.instance_id, task_id)  # and the tasks re-read, in one
        fresh = next((found for found in rows if found.id == task_id), None)
        if fresh is None:
            raise NotFound("task not found")
        row = fresh
        if row.state != TaskState.OPEN:
            if submit_token and row.completion_token == submit_token:
                return row
            raise TaskNotOpen("This task has already been completed or is no longer open.")
        if instance.status not in (InstanceStatus.RUNNING, InstanceStatus.INCIDENT):
            raise InstanceNotRunning("The process of this task is no longer running.")
        # the instance is locked and re-read: a remembered workflow of this version is current
        workflow = self._remembered(session, instance, take=True) or self.load(session, instance)
        task = workflow.get_task_from_id(UUID(task_id))
        if task is None or task.state != SpiffState.READY:
            raise TaskNotOpen("This task is no longer open.")
        before = {key: task.data.get(key) for key in data}
        ctx = RunContext(actor, "task_completed")
        # what the projection needs to know without reading the instance's tasks again
        ctx.prefetched = {found.id: found for found in rows}
        ctx.states_before = task_states(workflow)
        try:
            task.set_data(**data)
            task.run()
        except Exception as exc:  # noqa: BLE001 - a failing post-script is an incident
            log.exception("completing task %s failed", task_id)
            ctx.incident = _describe_failure(exc)
        row.state = TaskState.COMPLETED
        row.completed_at = clock.now()
        row.completed_by_id = actor.id
        row.completion_token = submit_token
        ctx.closed.append(row)
        if ctx.incident is None:
            ctx.incident = self._advance(workflow)
        self._save(session, instance, workflow, ctx)
        self._audit(
            session, instance, ctx, task=row, message=row.title, before=before, after=data,
        )
        return row

    def fire_timers(self, session: Session, instance_id: int) -> bool:
        """Fire whatever timers of the instance are due; True when anything moved."""
        # the instance's open task rows come with the lock, as for a completion ("" is no task's id)
        instance, rows = self._lock(session, instance_id, "")
        if instance.status != InstanceStatus.RUNNING:
            return False
        workflow = self.load(session, instance)
        before = _signature(workflow)
        ctx = RunContext(Actor.system("timer"), "timer_fired")
        # what the projection needs to know without reading the instance's tasks again
        ctx.prefetched = {found.id: found for found in rows}
        ctx.states_before = task_states(workflow)
        ctx.incident = self._advance(workflow)
        changed = _signature(workflow) != before
        previous_due = instance.next_due_at
        self._save(session, instance, workflow, ctx)
        if changed:
            self._audit(
                session, instance, ctx,
                message=f"due {previous_due.isoformat() if previous_due else '-'}",
            )
        return changed

    def deliver_message(
        self,
        session: Session,
        instance_id: int,
        message_name: str,
        payload: Any = None,
        actor: Actor | None = None,
    ) -> None:
        """Deliver a BPMN message to a waiting instance."""
        actor = actor or Actor.system()
        instance = self.lock(session, instance_id)
        if instance.status != InstanceStatus.RUNNING:
            raise InstanceNotRunning("The process is not running.")
        workflow = self.load(session, instance)
        try:
            workflow.send_event(BpmnEvent(MessageEventDefinition(message_name), payload))
        except WorkflowException as exc:
            raise NotFound(f"The process is not waiting for the message '{message_name}'.") from exc
        ctx = RunContext(actor, "message_delivered")
        ctx.incident = self._advance(workflow)
        self._save(session, instance, workflow, ctx)
        self._audit(session, instance, ctx, element=message_name, after={"payload": payload})

    def recompute_deadlines(self, session: Session, instance_id: int, actor: Actor) -> list[DeadlineMove]:
        """Compute the instance's working-calendar deadlines again after the calendar changed
        (:mod:`app.engine.deadlines`): open human tasks' due times and waiting timers move, the
        next timer due time follows, and each move is audited ("deadline_moved")."""
        instance = self.lock(session, instance_id)
        if instance.status != InstanceStatus.RUNNING:
            return []
        open_rows = list(session.scalars(_OPEN_TASKS, {"instance_id": instance.id}))
        workflow = self.load(session, instance)
        moves = recompute(workflow, open_rows)
        if not moves:
            return []
        rows = {row.id: row for row in open_rows}
        for move in moves:
            if move.kind == "task":
                rows[move.task_id].due_at = move.after
        ctx = RunContext(actor, "deadline_moved")
        self._save(session, instance, workflow, ctx)
        for move in moves:
            self._audit(
                session, instance, ctx, task=rows[move.task_id] if move.kind == "task" else None,
                element=move.element, message=move.name,
                before={"due_at": move.before.isoformat(), "kind": move.kind},
                after={"due_at": move.after.isoformat(), "kind": move.kind},
            )
        return moves

    def cancel(self, session: Session, instance_id: int, actor: Actor, reason: str) -> None:
        """Cancel a running instance and close its open tasks."""
        instance = self.lock(session, instance_id)
        workflow = self.load(session, instance)
        workflow.cancel()
        ctx = RunContext(actor, "process_cancelled")
        self.projector.sync(session, instance, workflow, ctx)
        instance.state = codec.dumps(workflow)
        instance.status = InstanceStatus.CANCELLED
        instance.completed_at = clock.now()
        instance.next_due_at = None
        for hook in self.hooks:
            hook(session, instance, workflow, ctx)
        self._audit(session, instance, ctx, message=reason)
        session.flush()

    def task_data(self, session: Session, task_id: str, completing: bool = False) -> dict[str, Any]:
        """A copy of the data a human task sees (for prefilling or checking its form).

        The loaded workflow stays with the session, so completing the task in the same
        transaction does not load it again (unless the instance changed in between).
        ``completing``: the caller completes the task next in this transaction; on PostgreSQL
        the instance is locked now (a row lock: only this instance's operations wait) with its
        tasks, and :meth:`complete_task` reads neither again. SQLite's lock is the whole
        database's: taken only by the completion, as before.
        """
        row = session.get(HumanTask, task_id)
        if row is None:
            raise NotFound("task not found")
        if completing and session.get_bind().dialect.name == "postgresql":
            locked = self._lock(session, row.instance_id, task_id)
            session.info[LOCKED_KEY] = {task_id: locked}
            instance: ProcessInstance | None = locked[0]
        else:
            instance = session.get(ProcessInstance, row.instance_id)
        if instance is None:
            raise NotFound("task not found")
        workflow = self._remembered(session, instance)
        if workflow is None:
            workflow = self.load(session, instance)
            self._remember(session, instance, workflow)
        task = workflow.get_task_from_id(UUID(task_id))
        # a deep copy: the caller must not be able to change the remembered workflow
        return copy.deepcopy(task.data) if task is not None else {}

    def instance_data(self, session: Session, instance_id: int) -> dict[str, Any]:
        """The instance's latest data: of its last completed task, or its workflow data."""
        instance = session.get(ProcessInstance, instance_id)
        if instance is None:
            raise NotFound(f"process instance {instance_id} not found")
        return latest_data(self.load(session, instance))


def due_timers(session: Session, until: datetime, limit: int = 100) -> list[tuple[int, datetime]]:
    """``(id, next_due_at)`` of the running instances whose next timer is due by ``until``,
    earliest first (one statement on the ``status, next_due_at`` index)."""
    rows = session.execute(_DUE_TIMERS, {"until": until, "limit": limit})
    return [(row.id, row.next_due_at) for row in rows]


_DUE_TIMERS = (select(ProcessInstance.id, ProcessInstance.next_due_at)
               .where(ProcessInstance.status == InstanceStatus.RUNNING,
                      ProcessInstance.next_due_at <= bindparam("until"))
               .order_by(ProcessInstance.next_due_at).limit(bindparam("limit", type_=Integer)))


def due_instance_ids(session: Session, now: datetime, limit: int = 100) -> list[int]:
    """Running instances whose next timer is due (:func:`due_timers`' ids)."""
    return [instance_id for instance_id, _due in due_timers(session, now, limit)]


def _signature(workflow: BpmnWorkflow) -> frozenset[tuple[Any, Any]]:
    return frozenset((t.id, t.state) for t in workflow.get_tasks())


def _describe_failure(exc: Exception) -> str:
    task = getattr(exc, "task", None)
    spec = getattr(task, "task_spec", None) or getattr(exc, "task_spec", None)
    element = getattr(spec, "bpmn_id", None) or getattr(spec, "name", None)
    name = getattr(spec, "bpmn_name", None)
    where = f"{element} ({name})" if name else (element or "engine")
    return f"{where}: {exc}"


__all__ = ["Actor", "RunContext", "WorkflowRuntime", "due_instance_ids", "due_timers", "to_datetime"]
