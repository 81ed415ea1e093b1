"""The process designer: definitions and their versions, validation, deploy, diff, migration,
forms, and what the instance viewer shows.

Only process designers and admins may edit, deploy or migrate; designers, admins, managers
and auditors may view instances (``app.services.policy``: ``may_design``, ``may_view_instances``).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.clock import clock
from app.data.models import (
    AuditEvent,
    FormDefinition,
    HumanTask,
    InstanceStatus,
    ProcessDefinition,
    ProcessInstance,
    TaskState,
    User,
)
from app.engine import migration
from app.engine.definitions.collisions import Collision, unrelated_collisions
from app.engine.definitions.deploy import DeployResult, deploy, deploy_forms, validate_sources
from app.engine.definitions.lookup import get_definition, latest_definition, latest_form
from app.engine.errors import DefinitionError, NotFound, Problem
from app.engine.parser import MAX_BPMN_BYTES
from app.errors import AppError
from app.i18n import N_
from app.services import accounts, policy
from app.services.approvals import KINDS
from app.services.setup import DEPARTMENTS, known_department_names

log = logging.getLogger(__name__)

MAX_DIAGRAM_BYTES = MAX_BPMN_BYTES


def require_designer(user: User | None) -> None:
    policy.require(policy.may_design(user), N_("Only process designers and administrators may do this."))


# ---------------------------------------------------------------------------- overview


@dataclass
class VersionInfo:
    definition: ProcessDefinition
    running: int
    total: int
    live: bool


@dataclass
class ProcessInfo:
    key: str
    name: str | None
    live: ProcessDefinition
    versions: list[VersionInfo] = field(default_factory=list)

    @property
    def running(self) -> int:
        return sum(v.running for v in self.versions)


def overview(session: Session) -> list[ProcessInfo]:
    """Each process key with all its versions (newest first), the live one, and instance counts."""
    counts: dict[int, dict[str, int]] = {}
    for definition_id, status, number in session.execute(
        select(ProcessInstance.definition_id, ProcessInstance.status, func.count())
        .group_by(ProcessInstance.definition_id, ProcessInstance.status)
    ):
        counts.setdefault(definition_id, {})[status] = number
    processes: dict[str, ProcessInfo] = {}
    rows = session.scalars(
        select(ProcessDefinition).order_by(ProcessDefinition.key, ProcessDefinition.version.desc())
    )
    for row in rows:
        info = processes.get(row.key)
        if info is None:
            info = processes[row.key] = ProcessInfo(row.key, row.name, row)
        by_status = counts.get(row.id, {})
        running = by_status.get(InstanceStatus.RUNNING, 0) + by_status.get(InstanceStatus.INCIDENT, 0)
        info.versions.append(VersionInfo(row, running, sum(by_status.values()), row.id == info.live.id))
    return list(processes.values())


def forms_overview(session: Session) -> list[FormDefinition]:
    """The latest version of every deployed form."""
    latest = (
        select(FormDefinition.key, func.max(FormDefinition.version).label("version"))
        .group_by(FormDefinition.key)
        .subquery()
    )
    return list(
        session.scalars(
            select(FormDefinition)
            .join(latest, (FormDefinition.key == latest.c.key) & (FormDefinition.version == latest.c.version))
            .order_by(FormDefinition.key)
        )
    )


def department_codes() -> list[str]:
    return [code for code, _zh, _en in DEPARTMENTS]


def department_names(session: Session) -> list[str]:
    """Every name a lane or department property may use (codes, Chinese and English names)."""
    return sorted(known_department_names(session))


# ---------------------------------------------------------------------------- validate and deploy


class DiagramTooLarge(Exception):
    pass


DOCTYPE_RE = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


def diagram_sources(filename: str, xml: str) -> dict[str, str]:
    """The upload as parser sources; refuses oversized files and any DTD (no entities, no XXE)."""
    if len(xml.encode("utf-8")) > MAX_DIAGRAM_BYTES:
        raise DiagramTooLarge(filename)
    name = (filename or "diagram.bpmn").replace("/", "_").replace("\\", "_")[:200]
    if not name.endswith(".bpmn"):
        name += ".bpmn"
    if DOCTYPE_RE.search(xml):
        raise DefinitionError(problems=[Problem(
            N_("DOCTYPE and entity declarations are not allowed in BPMN files (XXE and entity expansion "
               "are refused)."), file_name=name)])
    return {name: xml}


def validate_diagram(session: Session, filename: str, xml: str) -> list[Problem]:
    """The problems deploy would refuse, found without storing anything."""
    try:
        sources = diagram_sources(filename, xml)
    except DefinitionError as exc:
        return list(exc.problems)
    return validate_sources(session, sources, known_department_names(session), known_approvals=set(KINDS))


class ConfirmationRequired(AppError):
    """The upload reuses the key of a deployed process it is unrelated to (see :mod:`collisions`):
    deploying it makes it that process's next version, so the designer must confirm."""

    code = "confirmation_required"

    def __init__(self, collisions: list[Collision]) -> None:
        super().__init__(
            N_("A deployed process already has the id of this diagram's process, and the two diagrams are "
               "unrelated. Deploying makes it the next version of that process; rename the process id to deploy "
               "it as a new process, or confirm."),
            processes=[{"key": c.key, "live_version": c.version, "shared_elements": c.share} for c in collisions],
        )
        self.collisions = collisions


def deploy_diagram(session: Session, filename: str, xml: str, actor: User, confirm: bool = False) -> DeployResult:
    """Validate and deploy a diagram as new immutable versions (nothing new for identical content).

    Raises DefinitionError with every problem (path and timer checks included), and
    ConfirmationRequired when a process id is the key of an unrelated deployed process and
    ``confirm`` is not set.
    """
    require_designer(actor)
    sources = diagram_sources(filename, xml)
    problems = validate_sources(session, sources, known_department_names(session), known_approvals=set(KINDS))
    if problems:
        raise DefinitionError(problems=problems)
    if not confirm and (collisions := unrelated_collisions(session, sources)):
        raise ConfirmationRequired(collisions)
    return deploy(session, sources, None, actor_id=actor.id, known_departments=known_department_names(session),
                  known_approvals=set(KINDS), actor=accounts.actor(actor))


def save_form(session: Session, key: str, content: Any, actor: User) -> FormDefinition:
    """A new version of a form (or the latest one when the content is unchanged)."""
    require_designer(actor)
    if not isinstance(content, dict):
        raise DefinitionError(problems=[Problem(N_("The form must be a JSON object."), element_id=key)])
    return deploy_forms(session, {key: content}, actor.id, accounts.actor(actor))[key]


def get_form(session: Session, key: str) -> FormDefinition:
    row = latest_form(session, key)
    if row is None:
        raise NotFound(N_("The form does not exist."))
    return row


# ---------------------------------------------------------------------------- diff and migration


def diff(session: Session, old_id: int, new_id: int) -> tuple[ProcessDefinition, ProcessDefinition, Any]:
    old, new = get_definition(session, old_id), get_definition(session, new_id)
    if old.key != new.key:
        raise NotFound(N_("Both versions must belong to the same process."))
    return old, new, migration.diff_definitions(session, old, new)


def running_instances(session: Session, definition_id: int) -> list[ProcessInstance]:
    return list(
        session.scalars(
            select(ProcessInstance)
            .where(ProcessInstance.definition_id == definition_id)
            .where(ProcessInstance.status.in_((InstanceStatus.RUNNING, InstanceStatus.INCIDENT)))
            .order_by(ProcessInstance.id)
        )
    )


def migration_preview(
    session: Session, runtime: Any, source: ProcessDefinition, target: ProcessDefinition
) -> list[migration.MigrationPlan]:
    """For every running instance of ``source``: which tasks are affected, and whether it is safe."""
    plans = []
    for instance in running_instances(session, source.id):
        workflow = runtime.load(session, instance)
        plan, _diffs, _subs = migration.plan_migration(session, instance, workflow, target)
        plans.append(plan)
    return plans


def migrate(
    session: Session, runtime: Any, instance_id: int, target: ProcessDefinition, actor: User
) -> migration.MigrationPlan:
    """Migrate one instance in the caller's transaction (designers and admins only)."""
    from app.services.tasks import actor_for

    require_designer(actor)
    return migration.migrate_instance(session, runtime, instance_id, target, actor_for(actor))


# ---------------------------------------------------------------------------- instance viewer


@dataclass
class InstanceView:
    instance: ProcessInstance
    completed: list[str]
    active: list[str]
    overdue: list[str]
    history: list[AuditEvent]
    open_tasks: list[HumanTask]
    waiting: list[str]


def instance_view(session: Session, runtime: Any, instance_id: int, now: datetime | None = None) -> InstanceView:
    """Marks for the diagram: completed elements (audit trail + projection), active and overdue
    human tasks (projection; overdue = open and past due), waiting events (timers, messages)."""
    instance = migration.get_instance(session, instance_id)
    now = now or clock.now()
    tasks = list(session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id)))
    history = list(
        session.scalars(select(AuditEvent).where(AuditEvent.instance_id == instance.id).order_by(AuditEvent.id))
    )
    open_tasks = [t for t in tasks if t.state == TaskState.OPEN]
    active = sorted({t.element_id for t in open_tasks})
    overdue = sorted({t.element_id for t in open_tasks if t.due_at is not None and t.due_at < now})
    completed = {t.element_id for t in tasks if t.state == TaskState.COMPLETED}
    completed |= {e.element for e in history if e.action == "task_completed" and e.element}
    waiting: list[str] = []
    try:
        from SpiffWorkflow.util.task import TaskState as SpiffState

        workflow = runtime.load(session, instance)
        for task in workflow.get_tasks():
            element = getattr(task.task_spec, "bpmn_id", None)
            if not element:
                continue
            if task.state == SpiffState.COMPLETED:
                completed.add(element)
            elif task.state in (SpiffState.WAITING, SpiffState.STARTED) and element not in active:
                waiting.append(element)
    except Exception:  # noqa: BLE001 - the viewer still shows the projection if the state cannot load
        log.warning("instance %s: workflow state could not be loaded for the viewer", instance_id, exc_info=True)
    return InstanceView(instance, sorted(completed - set(active)), active, overdue, history, open_tasks,
                        sorted(set(waiting)))


def get_instance(session: Session, instance_id: int) -> ProcessInstance:
    """The process instance (NotFound when there is none)."""
    return migration.get_instance(session, instance_id)


def definition_or_404(session: Session, definition_id: int) -> ProcessDefinition:
    return get_definition(session, definition_id)


def live_definition(session: Session, key: str) -> ProcessDefinition:
    row = latest_definition(session, key)
    if row is None:
        raise NotFound(N_("The process is not deployed."))
    return row
