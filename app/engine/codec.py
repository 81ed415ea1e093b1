"""(De)serialization of workflow state, without the process spec.

SpiffWorkflow's serializer embeds the whole spec in every saved instance. The spec is the
deployed definition, which we already store once and cache parsed by its hash, so the
saved state leaves it out and loading binds the cached spec objects again. This keeps
rows small and loads fast. The serializer version is stored with each row.

The task tree — most of a save and of its cost — is converted here rather than through the
library's registry, producing exactly what its ``TaskConverter``/``BpmnSubWorkflowConverter``
produce (format 1.5; ``tests/engine/test_codec.py`` compares both on real states): the
registry's per-object dispatch, the spec's conversion (thrown away afterwards) and a parsed
UUID per reference cost several milliseconds per save and load of a 60-task instance. One UUID
object per task id on load also lets the engine's many ``workflow.tasks`` look-ups match by
identity instead of calling ``UUID.__eq__``. Anything else (events, internal data, typed values
in task data, other task or workflow classes) still goes through the library's registry.
"""

from __future__ import annotations

import json
from copy import copy
from datetime import date
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnSubWorkflowConverter, TaskConverter
from SpiffWorkflow.bpmn.serializer.migration.version_migration import MIGRATIONS
from SpiffWorkflow.bpmn.serializer.workflow import VERSION as SERIALIZER_VERSION
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import SubWorkflowTask
from SpiffWorkflow.bpmn.util.subworkflow import BpmnSubWorkflow
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from app.engine.errors import UnsupportedSaveFormat
from app.i18n import N_

_serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
_registry = _serializer.registry
# dumps converts with a registry of its own, permanently in the library's encoder mode (what
# serialize_json switches on for the duration of a call): switching the shared registry's flag
# per call raced between the threads of a worker.
_writer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
_writer.registry._encoder_mode = True


def _converter(registry: Any, cls: type) -> Any:
    return registry.convert_from_dict[registry.typenames[cls]].args[0].__self__


_workflow_converter = _converter(_registry, BpmnWorkflow)
_sub_converter = _converter(_registry, BpmnSubWorkflow)
_TASK = _registry.typenames[Task]
_SUB = _registry.typenames[BpmnSubWorkflow]
_WORKFLOW = _registry.typenames[BpmnWorkflow]
# the fast paths reproduce these converters; another library version must go through its own
assert type(_converter(_registry, Task)) is TaskConverter  # noqa: S101
assert type(_sub_converter) is BpmnSubWorkflowConverter  # noqa: S101
_MUTABLE = (dict, list, set)
_PLAIN = (dict, list)

__all__ = ["SERIALIZER_VERSION", "dumps", "jsonable", "loads", "readable"]


def jsonable(value: Any) -> Any:
    """``value`` (task or form data) as plain JSON types: dates as ISO text, collections as
    lists and dicts, anything else unknown as its text. For audit rows and stored drafts."""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


# ---------------------------------------------------------------------------------- dumps


def dumps(workflow: BpmnWorkflow) -> str:
    """The workflow's state as JSON, spec excluded."""
    convert = _writer.registry.convert
    dct = _workflow_dict(workflow)
    dct["subprocesses"] = {str(key): _subworkflow_dict(sub) for key, sub in workflow.subprocesses.items()}
    dct["bpmn_events"] = convert(workflow.bpmn_events)
    dct["typename"] = _WORKFLOW
    dct[_serializer.VERSION_KEY] = SERIALIZER_VERSION
    return json.dumps(dct, cls=_writer._encoder_cls, separators=(",", ":"))


def _subworkflow_dict(sub: Any) -> Any:
    if type(sub) is not BpmnSubWorkflow:
        return _writer.registry.convert(sub)
    dct = _workflow_dict(sub)
    dct["parent_task_id"] = str(sub.parent_task_id)
    dct["spec"] = sub.spec.name
    dct["typename"] = _SUB
    return dct


def _workflow_dict(workflow: Any) -> dict[str, Any]:
    """WorkflowConverter.to_dict."""
    registry = _writer.registry
    return {
        "data": registry.convert(registry.clean(workflow.data)),
        "correlations": workflow.correlations,
        "last_task": str(workflow.last_task.id) if workflow.last_task is not None else None,
        "success": workflow.success,
        "completed": workflow.completed,
        "tasks": _tasks_dict(workflow.tasks),
        "root": str(workflow.task_tree.id),
    }


def _tasks_dict(tasks: dict[UUID, Task]) -> dict[str, Any]:
    """TaskConverter.to_dict of every task: the data of the root, of the others what changed
    from their parent's.

    A task's id, its parent's and its children's are the same UUID objects as the keys of
    ``tasks`` (:func:`_uuid` on load, the library's own on a new task), so ids are looked up by
    object identity: hashing a UUID is a Python call, and a state's ids were hashed some 75
    times a dump. An id that is an equal but other object is looked up by value."""
    convert = _writer.registry.convert
    by_identity = {id(task_id): task for task_id, task in tasks.items()}
    names: dict[int, str] = {}

    def name(task_id: UUID) -> str:
        text = names.get(id(task_id))
        if text is None:
            text = names[id(task_id)] = str(task_id)
        return text

    out: dict[str, Any] = {}
    for task_id, task in tasks.items():
        if type(task) is not Task:
            out[name(task_id)] = convert(task)
            continue
        parent_id = task._parent
        parent = None if parent_id is None else by_identity.get(id(parent_id)) or tasks.get(parent_id)
        own = task.data
        if parent is None:
            data, delta = own, {}
        else:
            before = parent.data
            data = {}
            delta = {"updates": {key: own[key] for key in own if key not in before or own[key] != before[key]},
                     "deletions": [key for key in before if key not in own]}
        out[name(task_id)] = {
            "id": name(task.id),
            "parent": name(task._parent) if parent is not None else None,
            "children": [name(child) for child in task._children],
            "last_state_change": task.last_state_change,
            "state": task.state,
            "task_spec": task.task_spec.name,
            "triggered": task.triggered,
            "internal_data": convert(internal) if (internal := task.internal_data) else {},
            "data": data,
            "delta": delta,
            "typename": _TASK,
        }
    return out


# ---------------------------------------------------------------------------------- loads


def readable(version: str | None) -> bool:
    """Whether a save in serializer format ``version`` can be loaded: the current format, or an
    older one the library has a migration for."""
    return version == SERIALIZER_VERSION or version in MIGRATIONS


def loads(state: str, spec: Any, subprocess_specs: dict[str, Any], script_engine: Any,
          row_version: str | None = None) -> BpmnWorkflow:
    """Rebuild a workflow from :func:`dumps` output and the (cached) spec objects.

    A save in a format with no migration to the current one (a newer library's, or one whose
    row and content disagree) is refused with :class:`UnsupportedSaveFormat` rather than read
    wrongly; ``row_version`` is the version stored in the row beside the state.
    """
    dct = json.loads(state, cls=_serializer.json_decoder_cls)
    version = dct.get(_serializer.VERSION_KEY)
    if not readable(version) or (row_version is not None and row_version != version):
        raise UnsupportedSaveFormat(
            N_("This process was saved in a format this version of the application cannot read "
               "(no migration from it exists); it was left unchanged. Ask an administrator."),
            found=version, row=row_version, supported=SERIALIZER_VERSION)
    if version != SERIALIZER_VERSION:
        # Older saves go through the library's migrations, which need the spec inline;
        # the caller re-saves in the current format afterwards.
        dct["spec"] = _serializer.to_dict(spec)
        dct["subprocess_specs"] = {k: _serializer.to_dict(v) for k, v in subprocess_specs.items()}
        _serializer.migrate(dct)
        workflow = _serializer.from_dict(dct)
        workflow.script_engine = script_engine
        return workflow
    dct.pop(_serializer.VERSION_KEY)
    uuids: dict[str, UUID] = {}
    workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=script_engine, deserializing=True)
    workflow.tasks = _tasks_from_dict(dct["tasks"], workflow, uuids)
    workflow.task_tree = workflow.tasks.get(_uuid(uuids, dct["root"]))
    _workflow_converter.set_default_attributes(workflow, dct)
    _subprocesses_from_dict(dct["subprocesses"], workflow, workflow, uuids)
    workflow.bpmn_events = _registry.restore(dct.pop("bpmn_events", []))
    return workflow


def _uuid(uuids: dict[str, UUID], text: str) -> UUID:
    """One UUID object per id within a load."""
    found = uuids.get(text)
    if found is None:
        found = uuids[text] = UUID(text)
    return found


def _restore(value: Any) -> Any:
    """``_registry.restore`` of decoded JSON: the same values, without its generic dispatch for
    the plain values that make up nearly all of it."""
    kind = type(value)
    if kind is dict:
        if "typename" in value:
            return _registry.restore(value)
        return {key: _restore(item) for key, item in value.items()}
    if kind is list:
        return [_restore(item) for item in value]
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return value
    return _registry.restore(value)


def _tasks_from_dict(mapping: dict[str, Any], workflow: Any, uuids: dict[str, UUID]) -> dict[UUID, Task]:
    """TaskConverter.from_dict of every task (parents come before their children)."""
    restore = _registry.restore
    specs = workflow.spec.task_specs
    events = workflow.top_workflow.event_manager
    tasks: dict[UUID, Task] = {}
    for key, dct in mapping.items():
        if dct.get("typename") != _TASK:
            tasks[_uuid(uuids, key)] = restore(dct, workflow=workflow)
            continue
        task_spec = specs.get(dct["task_spec"])
        task = Task(workflow, task_spec, state=dct["state"], id=_uuid(uuids, dct["id"]))
        parent_id = dct["parent"]
        task._parent = _uuid(uuids, parent_id) if parent_id is not None else None
        task._children = [_uuid(uuids, child) for child in dct["children"]]
        task.last_state_change = dct["last_state_change"]
        task.triggered = dct["triggered"]
        task.internal_data = _restore(dct["internal_data"])
        if isinstance(task_spec, CatchingEvent) and task.has_state(TaskState.WAITING):
            events.add_task(task)
        delta = dct.get("delta")
        parent = workflow.tasks.get(task._parent) if delta else None
        if parent is not None:
            # DeepMerge.merge({}, parent.data): a copy one level deep (plain lists and dicts,
            # all that JSON gives, copied directly; copy() is what the library calls)
            data = {k: v.copy() if type(v) in _PLAIN else copy(v) if isinstance(v, _MUTABLE) else v
                    for k, v in parent.data.items()}
            data.update(_restore(delta.get("updates", {})))
            for name in delta.get("deletions", {}):
                if name in data:
                    del data[name]
        else:
            data = _restore(dct["data"])
        task.data = data
        tasks[_uuid(uuids, key)] = task
    return tasks


def _subprocesses_from_dict(dct: dict[str, Any], workflow: Any, top: BpmnWorkflow, uuids: dict[str, UUID]) -> None:
    """BpmnWorkflowConverter.subprocesses_from_dict: parents before their children."""
    for task in workflow.tasks.values():
        if not (isinstance(task.task_spec, SubWorkflowTask) and str(task.id) in dct):
            continue
        sub_dct = dct.pop(str(task.id))
        if sub_dct.get("typename") != _SUB:
            sub = _registry.restore(sub_dct, task=task, top_workflow=top)
        else:
            sub = BpmnSubWorkflow(top.subprocess_specs.get(task.task_spec.spec), task.id, top, deserializing=True)
            sub.tasks = _tasks_from_dict(sub_dct["tasks"], sub, uuids)
            sub.task_tree = sub.tasks.get(_uuid(uuids, sub_dct["root"]))
            _sub_converter.set_default_attributes(sub, sub_dct)
        top.subprocesses[task.id] = sub
        sub.completed_event.connect(task.task_spec._on_subworkflow_completed, task)
        _subprocesses_from_dict(dct, sub, top, uuids)
