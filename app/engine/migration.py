"""Diffs between deployed versions and migrating running instances to a new version.

Wraps SpiffWorkflow's ``SpecDiff`` / ``diff_workflow`` / ``migrate_workflow`` for the
instances we persist (state without spec, bound to a definition row). Migration is only
done where it is safe: an instance whose active tasks (ready, waiting or started) all still
exist in the new version, with the same type and without changes that would re-route or
re-shape work already handed out. No Flask here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from lxml import etree
from SpiffWorkflow.bpmn.util.diff import SpecDiff, diff_workflow, migrate_workflow
from SpiffWorkflow.util.task import TaskState as SpiffState
from sqlalchemy.orm import Session

from app.data.models import InstanceStatus, ProcessDefinition, ProcessInstance
from app.engine import audit, codec
from app.engine.context import RunContext
from app.engine.definitions.lookup import load_spec, task_properties
from app.engine.errors import EngineError, NotFound
from app.engine.parser import _SAFE_XML
from app.engine.properties import project_access
from app.i18n import N_

ACTIVE = SpiffState.READY | SpiffState.WAITING | SpiffState.STARTED
#: Attributes of an active task's spec that may change without touching work in progress:
#: its label, its documentation and the flows around it (the branch after it is re-predicted).
SAFE_ATTRIBUTES = {"bpmn_name", "description", "documentation", "inputs", "outputs", "extensions"}
#: Our properties that decide who works on an open task and with which form.
ROUTING_PROPERTIES = ("formKey", "department", "assignee")
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"


class MigrationRefused(EngineError):
    """The instance cannot be moved to the new version safely."""

    code = "migration_refused"


# ---------------------------------------------------------------------------- version diff


@dataclass
class DefinitionDiff:
    """Elements added, removed and changed (with the changed attributes) between two versions."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: dict[str, list[str]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"added": self.added, "removed": self.removed, "changed": self.changed, "names": self.names}


def _element(ts: Any) -> str | None:
    """The BPMN element id of a task spec; None for the engine's own helper specs."""
    bpmn_id = getattr(ts, "bpmn_id", None)
    if not bpmn_id or ts.name.endswith(" [child]"):
        return None
    return str(bpmn_id)


def _spec_diff(old: Any, new: Any, result: DefinitionDiff) -> None:
    diff = SpecDiff(codec._registry, old, new)
    for ts in diff.added:
        if (element := _element(ts)) and element not in result.added:
            result.added.append(element)
            result.names[element] = getattr(ts, "bpmn_name", "") or ""
    for ts in diff.removed:
        if (element := _element(ts)) and element not in result.removed:
            result.removed.append(element)
            result.names[element] = getattr(ts, "bpmn_name", "") or ""
    for ts, attributes in diff.changed.items():
        if element := _element(ts):
            result.changed.setdefault(element, [])
            result.changed[element] += [a for a in attributes if a not in result.changed[element]]
            result.names[element] = getattr(diff.alignment.get(ts), "bpmn_name", "") or ""


def _flows(xml: str) -> dict[str, tuple[str, str, str]]:
    """Sequence flows of a BPMN document: id -> (source, target, condition)."""
    root = etree.fromstring(xml.encode("utf-8"), parser=_SAFE_XML)
    flows = {}
    for node in root.iter(f"{{{BPMN_NS}}}sequenceFlow"):
        condition = node.find(f"{{{BPMN_NS}}}conditionExpression")
        text = (condition.text or "").strip() if condition is not None else ""
        flows[node.get("id")] = (node.get("sourceRef", ""), node.get("targetRef", ""), text)
    return flows


def diff_definitions(session: Session, old: ProcessDefinition, new: ProcessDefinition) -> DefinitionDiff:
    """What changed from ``old`` to ``new``: task-level (SpecDiff) and sequence flows (XML)."""
    old_parsed, new_parsed = load_spec(session, old), load_spec(session, new)
    result = DefinitionDiff()
    _spec_diff(old_parsed.spec, new_parsed.spec, result)
    for name, sub in old_parsed.subprocess_specs.items():
        if sub is not None and new_parsed.subprocess_specs.get(name) is not None:
            _spec_diff(sub, new_parsed.subprocess_specs[name], result)
    before, after = _flows(old.bpmn_xml), _flows(new.bpmn_xml)
    result.added += [f for f in after if f not in before]
    result.removed += [f for f in before if f not in after]
    for flow_id, value in after.items():
        if flow_id in before and before[flow_id] != value:
            labels = ("sourceRef", "targetRef", "condition")
            result.changed[flow_id] = [k for k, a, b in zip(labels, before[flow_id], value, strict=True) if a != b]
    return result


# ---------------------------------------------------------------------------- instance migration


@dataclass
class AffectedTask:
    element_id: str
    name: str
    state: str
    change: str  # "removed" | "changed" | "unchanged"
    attributes: list[str] = field(default_factory=list)
    safe: bool = True


@dataclass
class MigrationPlan:
    instance_id: int
    from_version: int
    to_version: int
    tasks: list[AffectedTask] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    @property
    def safe(self) -> bool:
        return not self.reasons

    def as_dict(self) -> dict[str, Any]:
        return {
            "instance_id": self.instance_id,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "safe": self.safe,
            "reasons": self.reasons,
            "tasks": [t.__dict__ for t in self.tasks],
        }


def _unsafe_change(old_spec: Any, new_spec: Any, attributes: list[str]) -> str | None:
    """Why changing an active task's spec this way is unsafe, else None."""
    if "typename" in attributes:
        return N_("its element type changed")
    other = [a for a in attributes if a not in SAFE_ATTRIBUTES]
    if other:
        return N_("its definition changed") + f" ({', '.join(sorted(other))})"
    if "extensions" in attributes:
        before, after = task_properties(old_spec), task_properties(new_spec)
        routing = [p for p in ROUTING_PROPERTIES if before.get(p) != after.get(p)]
        if routing:
            return N_("its routing properties changed") + f" ({', '.join(routing)})"
    return None


def _check_workflow(wf_diff: Any, workflow: Any, plan: MigrationPlan) -> None:
    removed = set(wf_diff.removed)
    changed = set(wf_diff.changed)
    for task in workflow.get_tasks(state=ACTIVE, skip_subprocesses=True):
        element = _element(task.task_spec) or _element(getattr(task.parent, "task_spec", None) or task.task_spec)
        if element is None:
            continue
        name = getattr(task.task_spec, "bpmn_name", "") or ""
        state = SpiffState.get_name(task.state)
        if task in removed:
            plan.tasks.append(AffectedTask(element, name, state, "removed", safe=False))
            plan.reasons.append(f"{element}: " + N_("an active task was removed in the new version"))
            continue
        new_spec = wf_diff.alignment.get(task)
        if task in changed and new_spec is not None:
            attributes = _attributes(task.task_spec, new_spec)
            reason = _unsafe_change(task.task_spec, new_spec, attributes)
            plan.tasks.append(AffectedTask(element, name, state, "changed", attributes, safe=reason is None))
            if reason:
                plan.reasons.append(f"{element}: {reason}")
        else:
            plan.tasks.append(AffectedTask(element, name, state, "unchanged"))


def _attributes(old_spec: Any, new_spec: Any) -> list[str]:
    before, after = codec._registry.convert(old_spec), codec._registry.convert(new_spec)
    if before.get("typename") != after.get("typename"):
        return ["typename"]
    return [key for key, value in before.items() if after.get(key) != value]


def plan_migration(
    session: Session, instance: ProcessInstance, workflow: Any, target: ProcessDefinition
) -> tuple[MigrationPlan, Any, dict[str, Any]]:
    """The plan (safe or with reasons) and the diffs needed to carry it out."""
    plan = MigrationPlan(instance.id, instance.definition.version, target.version)
    if instance.status not in (InstanceStatus.RUNNING, InstanceStatus.INCIDENT):
        plan.reasons.append(N_("the instance is not running"))
    if target.key != instance.process_key:
        plan.reasons.append(N_("the target version belongs to another process"))
    if target.id == instance.definition_id:
        plan.reasons.append(N_("the instance already runs this version"))
    parsed = load_spec(session, target)
    top_diff, sub_diffs = diff_workflow(codec._registry, workflow, parsed.spec, parsed.subprocess_specs)
    _check_workflow(top_diff, workflow, plan)
    for sp_id, sp_diff in sub_diffs.items():
        subworkflow = workflow.subprocesses[sp_id]
        if sp_diff is None:
            if subworkflow.get_tasks(state=ACTIVE):
                plan.reasons.append(f"{subworkflow.spec.name}: " + N_("a running subprocess no longer exists"))
            continue
        _check_workflow(sp_diff, subworkflow, plan)
    return plan, (top_diff, parsed), sub_diffs


def apply_migration(workflow: Any, diffs: tuple[Any, Any], sub_diffs: dict[str, Any]) -> None:
    """Move the workflow onto the new specs, keeping the data of its active tasks.

    ``migrate_workflow`` resets ready and waiting tasks and re-predicts their branches; a reset
    task takes its parent's data, so each active task's own data (a multi-instance item, a
    timer's start) is put back afterwards.
    """
    top_diff, parsed = diffs
    kept = {
        task.id: (task.data, task.internal_data)
        for task in workflow.get_tasks(state=SpiffState.READY | SpiffState.WAITING)
    }
    workflow.subprocess_specs = parsed.subprocess_specs
    migrate_workflow(top_diff, workflow, parsed.spec)
    for sp_id, sp_diff in sub_diffs.items():
        if sp_diff is not None:
            subworkflow = workflow.subprocesses[sp_id]
            migrate_workflow(sp_diff, subworkflow, parsed.subprocess_specs[subworkflow.spec.name])
    _repredict_started(workflow)
    for task_id, (data, internal) in kept.items():
        task = workflow.get_task_from_id(task_id)
        if task is not None:
            task.data = data
            task.internal_data.update(internal)


def _repredict_started(workflow: Any) -> None:
    """Started tasks (a multi-instance loop, a call activity) keep running, so the library does not
    reset them; where their outgoing flows changed, their predicted branch is rebuilt."""
    mask = SpiffState.STARTED | SpiffState.PREDICTED_MASK | SpiffState.FUTURE
    for task in workflow.get_tasks(state=SpiffState.STARTED):
        predicted = {c.task_spec.name for c in task.children if not c.triggered}
        if predicted != {o.name for o in task.task_spec.outputs}:
            for child in list(task.children):
                if not child.triggered and child.task_spec not in task.task_spec.outputs and child.has_state(mask):
                    workflow._remove_task(child.id)
            task.task_spec._predict(task, mask=mask)


def migrate_instance(
    session: Session, runtime: Any, instance_id: int, target: ProcessDefinition, actor: Any
) -> MigrationPlan:
    """Migrate one instance inside the caller's transaction, or raise MigrationRefused.

    Locks the instance, checks the plan, migrates, saves through the runtime (state,
    projections, hooks) bound to the new definition, and audits ``instance_migrated``.
    """
    instance = runtime.lock(session, instance_id)
    workflow = runtime.load(session, instance)
    plan, diffs, sub_diffs = plan_migration(session, instance, workflow, target)
    if not plan.safe:
        raise MigrationRefused(N_("This instance cannot be migrated safely."), reasons=plan.reasons)
    old = instance.definition
    apply_migration(workflow, diffs, sub_diffs)
    instance.definition = target
    instance.definition_id = target.id
    ctx = RunContext(actor, "instance_migrated")
    ctx.incident = runtime._advance(workflow)
    runtime._save(session, instance, workflow, ctx)
    _refresh_open_rows(session, instance, workflow)
    audit.record(
        session, actor=actor, action="instance_migrated", instance=instance, element=instance.process_key,
        message=f"{instance.process_key} v{old.version} → v{target.version}",
        before={"definition_id": old.id, "version": old.version},
        after={"definition_id": target.id, "version": target.version, "tasks": [t.__dict__ for t in plan.tasks]},
    )
    session.flush()
    return plan


def _refresh_open_rows(session: Session, instance: ProcessInstance, workflow: Any) -> None:
    """Open task rows show the new version's titles, stage and form version."""
    from app.data.models import HumanTask, TaskState

    rows = session.query(HumanTask).filter_by(instance_id=instance.id, state=TaskState.OPEN).all()
    for row in rows:
        try:
            task = workflow.get_task_from_id(UUID(row.id))
        except (ValueError, KeyError):
            continue
        if task is None:
            continue
        spec = task.task_spec
        props = task_properties(spec)
        row.title = (getattr(spec, "bpmn_name", None) or row.element_id)[:200]
        row.title_en = props.get("nameEn")
        row.context = {**(row.context or {}), "stage": props.get("stage") or row.title}
        row.lateness_charge = props.get("latenessCharge") or None
        row.lateness_basis = props.get("latenessDays") or None
        project_access(row, props)  # who may complete it follows the new version too
        if row.form_key:
            row.form_id = (instance.definition.forms or {}).get(row.form_key, row.form_id)


def get_instance(session: Session, instance_id: int) -> ProcessInstance:
    instance = session.get(ProcessInstance, instance_id)
    if instance is None:
        raise NotFound(N_("The process instance does not exist."))
    return instance
