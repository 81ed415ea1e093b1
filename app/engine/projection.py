"""Projections of workflow state into indexed tables, so inboxes never load workflows.

After every save the open human tasks of an instance are reconciled with ``human_task``:
new READY user tasks are inserted with their department, assignee, form, due time and
case essentials; tasks that are no longer READY are closed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.exceptions import TaskNotFoundException
from SpiffWorkflow.util.task import TaskState as SpiffState
from sqlalchemy import Integer, bindparam, func, or_, select
from sqlalchemy.orm import Session, aliased
from sqlalchemy.orm.util import identity_key

from app.clock import clock
from app.data.models import Case, HumanTask, ProcessInstance, TaskState, User
from app.data.queries.people import departments_by_id
from app.engine.context import CaseFacts, RunContext
from app.engine.definitions.confirm import form_key_of
from app.engine.definitions.lookup import task_properties
from app.engine.helpers import to_datetime
from app.engine.progress import waiting_events
from app.engine.properties import project_access

log = logging.getLogger(__name__)

TIMER_TYPES = {"TimeDateEventDefinition", "DurationTimerEventDefinition", "CycleTimerEventDefinition"}


def next_timer_due(workflow: BpmnWorkflow) -> datetime | None:
    """The earliest due time among the instance's waiting timer events."""
    due: list[datetime] = []
    for event in waiting_events(workflow):  # with the timers of event-based gateways
        if event.event_type not in TIMER_TYPES or not event.value:
            continue
        try:
            value = event.value
            if isinstance(value, dict):  # cycle timers report {"cycles", "next", "duration"}
                value = value.get("next")
            due.append(TimerEventDefinition.get_datetime(str(value)))
        except (TypeError, ValueError):
            log.warning("unreadable timer value %r", event.value)
    return min(due) if due else None


def task_data_change(workflow: BpmnWorkflow, task_id: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(data the task started with, data it ended with) of a task of ``workflow``, e.g. of a
    human task just completed (its form data and post-script applied); None when unknown."""
    try:
        task = workflow.get_task_from_id(UUID(task_id))
    except (TaskNotFoundException, ValueError):
        return None
    if task is None or task.parent is None:
        return None
    return dict(task.parent.data), dict(task.data)


def latest_data(workflow: BpmnWorkflow) -> dict[str, Any]:
    """An instance's latest data: as its last completed task left it (the workflow's data before
    any), a copy."""
    last = workflow.last_task
    return dict(last.data) if last is not None else dict(workflow.data)


#: task states of a step the workflow has been through (not merely predicted or waiting to run)
_REACHED = SpiffState.READY | SpiffState.STARTED | SpiffState.COMPLETED | SpiffState.ERROR | SpiffState.CANCELLED


def elements_reached(workflow: BpmnWorkflow, elements: set[str], excluding: set[str]) -> set[str]:
    """Those of ``elements`` (BPMN ids) that a task of ``workflow`` other than the tasks
    ``excluding`` (ids) has reached, in the process or any subprocess: completed tasks stay in
    a workflow's tree, so an element not found was never done before in this instance."""
    reached: set[str] = set()
    for flow in (workflow, *workflow.subprocesses.values()):
        for task in flow.tasks.values():
            spec = task.task_spec
            element = getattr(spec, "bpmn_id", None) or spec.name
            if element in elements and task.state & _REACHED and str(task.id) not in excluding:
                reached.add(element)
    return reached


#: models with one row per case, keyed by ``case_id``, that :func:`read_case` brings along
#: (registered by the services whose hooks read them: one statement instead of one each)
_CASE_COMPANIONS: list[Any] = []


def read_with_case(model: Any) -> None:
    """Have :func:`read_case` load ``model``'s row of the case too (outer join on its ``case_id``
    primary key): a hook's ``session.get(model, case_id)`` then finds it in the session."""
    if model not in _CASE_COMPANIONS:
        _CASE_COMPANIONS.append(model)


def _read_case_statement() -> Any:
    """The statement of :func:`read_case`, built once per set of companions (building it is
    most of the read's Python cost: the case entity, a correlated subquery, an alias, the joins)."""
    key = tuple(_CASE_COMPANIONS)
    stmt = _READ_CASE_STATEMENTS.get(key)
    if stmt is None:
        case_id, instance_id = bindparam("case_id", type_=Integer), bindparam("instance_id", type_=Integer)
        first = select(func.min(ProcessInstance.id)).where(ProcessInstance.case_id == case_id).scalar_subquery()
        other = aliased(HumanTask)  # the other instances' open tasks: one row each (usually none)
        stmt = (select(Case, first, other.created_at, other.title, *key).where(Case.id == case_id)
                .outerjoin(other, (other.case_id == Case.id) & (other.state == TaskState.OPEN)
                           & (other.instance_id != instance_id)))
        for model in key:
            stmt = stmt.outerjoin(model, model.case_id == Case.id)
        _READ_CASE_STATEMENTS[key] = stmt
    return stmt


_READ_CASE_STATEMENTS: dict[tuple[Any, ...], Any] = {}


def read_case(session: Session, case_id: int, instance_id: int) -> tuple[Case | None, CaseFacts | None]:
    """The case row with its :class:`CaseFacts` seen from instance ``instance_id``, in one
    statement (the case's hooks ask both; a case already in the session is not read again, and
    its facts are then unknown), and the case's rows of :func:`read_with_case` models."""
    held = session.identity_map.get(identity_key(Case, case_id))
    if held is not None:
        return held, None
    rows = session.execute(_read_case_statement(), {"case_id": case_id, "instance_id": instance_id}).all()
    if not rows:
        return None, None
    others = tuple((row[2], row[3]) for row in rows if row[3] is not None)
    return rows[0][0], CaseFacts(rows[0][1], others, tuple(found for found in rows[0][4:] if found is not None))


def task_states(workflow: BpmnWorkflow) -> dict[Any, int]:
    """The state of every task of ``workflow`` and its subprocesses, by UUID."""
    states = {task_id: task.state for task_id, task in workflow.tasks.items()}
    for sub in workflow.subprocesses.values():
        states.update((task_id, task.state) for task_id, task in sub.tasks.items())
    return states


class _Lookups:
    """Departments and users resolved once per save."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._departments: dict[str, int] | None = None

    def department_id(self, name: str | None) -> int | None:
        if not name:
            return None
        if self._departments is None:
            self._departments = {}
            for dept in departments_by_id(self.session).values():
                for label in (dept.code, dept.name_zh, dept.name_en):
                    self._departments[label.lower()] = dept.id
        return self._departments.get(str(name).strip().lower())

    def user_id(self, username: str | None) -> int | None:
        if not username:
            return None
        return self.session.scalars(_USER_ID, {"username": str(username)}).first()


_USER_ID = select(User.id).where(User.username == bindparam("username"))


def _evaluate(workflow: BpmnWorkflow, task: Any, value: str, external: dict[str, Any] | None = None) -> Any:
    """A property value: ``=expression`` is evaluated against the task data."""
    if value.startswith("="):
        return workflow.script_engine.evaluate(task, value[1:], external)
    return value


def task_property(workflow: BpmnWorkflow, task_id: str, name: str) -> Any:
    """The value of the property ``name`` of a task of ``workflow`` (open, completed or
    cancelled), an ``=expression`` evaluated against the task's current data — for a completed
    task, what was entered; None when the task or the property is unknown."""
    try:
        task = workflow.get_task_from_id(UUID(task_id))
    except (TaskNotFoundException, ValueError):
        return None
    if task is None:
        return None
    value = task_properties(task.task_spec).get(name)
    return _evaluate(workflow, task, value) if value else None


def due_at(workflow: BpmnWorkflow, task: Any, value: str, now: datetime) -> datetime | None:
    """A task's due time from its ``dueAt`` property, computed from the instant ``now`` (the
    task's creation: ``now()`` in the expression is pinned to it, so evaluating it again later,
    e.g. after a working-calendar change, starts from the same instant)."""
    result = _evaluate(workflow, task, value, {"now": pinned_now(now)})
    if not result:
        return None
    text = str(result)
    if text.upper().startswith("P"):
        parsed = TimerEventDefinition.parse_iso_duration(text)
        delta: timedelta = TimerEventDefinition.get_timedelta_from_start(parsed, now)
        return now + delta
    return to_datetime(result)


def pinned_now(instant: datetime) -> Callable[[], str]:
    """A ``now()`` for diagram expressions that always answers ``instant`` (ISO, UTC)."""
    text = instant.astimezone(UTC).isoformat()
    return lambda: text


#: the projection's reads of an instance's rows (built once): those of some tasks, and the open ones
#: with those of some tasks (an empty list matches nothing)
_ROWS_OF_TASKS = select(HumanTask).where(HumanTask.instance_id == bindparam("instance_id"),
                                         HumanTask.id.in_(bindparam("ids", expanding=True)))
_OPEN_OR_READY_ROWS = select(HumanTask).where(
    HumanTask.instance_id == bindparam("instance_id"),
    or_(HumanTask.state == TaskState.OPEN, HumanTask.id.in_(bindparam("ids", expanding=True))))


class TaskProjector:
    """Keeps ``human_task`` in step with the READY user tasks of an instance."""

    def sync(self, session: Session, instance: ProcessInstance, workflow: BpmnWorkflow,
             ctx: RunContext) -> list[HumanTask]:
        """Cancel the rows of tasks no longer READY, add rows for newly READY ones; returns the
        instance's open rows. One query reads both the open rows and any row a READY task
        already has (a re-READY task after an incident retry keeps its row)."""
        ready = {
            str(task.id): task
            for task in workflow.get_tasks(state=SpiffState.READY, manual=True)
        }
        rows = self._rows(session, instance, ready, ctx)
        open_rows = {row.id: row for row in rows if row.state == TaskState.OPEN}
        known = {row.id: row for row in rows}
        now = clock.now()
        for task_id, row in open_rows.items():
            if task_id not in ready:
                row.state = TaskState.CANCELLED
                row.completed_at = now
                ctx.closed.append(row)
        still_open = [row for task_id, row in open_rows.items() if task_id in ready]
        ctx.open_rows = still_open
        new_ids = [task_id for task_id in ready if task_id not in open_rows]
        if not new_ids:
            return still_open
        case = None
        if instance.case_id:
            case, ctx.case_facts = read_case(session, instance.case_id, instance.id)
        ctx.loaded.append(case)
        lookups = _Lookups(session)
        for task_id in new_ids:
            task = ready[task_id]
            row = known.get(task_id) or HumanTask(id=task_id)
            self._fill(row, instance, workflow, task, case, lookups, now)
            if task_id not in known:
                session.add(row)
            ctx.opened.append(row)
            still_open.append(row)
        return still_open

    @staticmethod
    def _rows(session: Session, instance: ProcessInstance, ready: dict[str, Any], ctx: RunContext) -> list[HumanTask]:
        """The instance's open rows and any row a READY task already has. After the operation
        read them under the lock (``ctx.prefetched``), only a READY task that had been reached
        before the engine ran (a row is made only for a READY task) and has no row among them
        can have one elsewhere: read only those (e.g. a task re-READY after an incident)."""
        if ctx.prefetched is not None and ctx.states_before is not None:
            rows = list(ctx.prefetched.values())
            maybe = [task_id for task_id, task in ready.items() if task_id not in ctx.prefetched
                     and ctx.states_before.get(task.id, 0) & _REACHED]
            if maybe:
                rows += session.scalars(_ROWS_OF_TASKS, {"instance_id": instance.id, "ids": sorted(maybe)})
            return rows
        return list(session.scalars(_OPEN_OR_READY_ROWS, {"instance_id": instance.id, "ids": sorted(ready)}))

    def _fill(self, row: HumanTask, instance: ProcessInstance, workflow: BpmnWorkflow,
              task: Any, case: Case | None, lookups: _Lookups, now: datetime) -> None:
        spec = task.task_spec
        props = task_properties(spec)
        row.instance_id = instance.id
        row.case_id = instance.case_id
        row.process_key = instance.process_key
        row.element_id = getattr(spec, "bpmn_id", None) or spec.name
        row.title = (getattr(spec, "bpmn_name", None) or row.element_id)[:200]
        row.title_en = props.get("nameEn")
        row.lane = spec.lane
        row.form_key = form_key_of(spec)
        row.form_id = (instance.definition.forms or {}).get(row.form_key) if row.form_key else None
        row.state = TaskState.OPEN
        row.created_at = now
        row.completed_at = None
        row.completed_by_id = None
        row.completion_token = None
        try:
            row.priority = int(props.get("priority", 0))
        except ValueError:
            row.priority = 0
        department = props.get("department")
        department_name = _evaluate(workflow, task, department) if department else spec.lane
        row.department_id = lookups.department_id(department_name)
        assignee = props.get("assignee")
        row.assignee_id = lookups.user_id(_evaluate(workflow, task, assignee)) if assignee else None
        due = props.get("dueAt")
        row.due_at = due_at(workflow, task, due, now) if due else None
        if case is not None:
            row.case_number = case.number
            row.customer_name = case.customer_name
            row.product_model = case.product_model
            row.urgency = case.urgency
            row.category = case.category
        row.context = {"stage": props.get("stage") or row.title}
        row.stage = (props.get("stage") or row.title)[:100]
        about = props.get("about")  # the department whose work the task is about (e.g. Quality verifying one 8D)
        about_id = lookups.department_id(_evaluate(workflow, task, about)) if about else None
        if about_id is not None and about_id != row.department_id:
            row.context["about_department_id"] = about_id
        row.lateness_charge = props.get("latenessCharge") or None
        row.lateness_basis = props.get("latenessDays") or None
        project_access(row, props)
