"""(De)serialization of workflow state, without the process spec.

SpiffWorkflow's serializer embeds the whole spec in every saved instance. The spec is the
deployed definition, which we already store once and cache parsed by its hash, so the
saved state leaves it out and loading binds the cached spec objects again. This keeps
rows small and loads fast. The serializer version is stored with each row.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.migration.version_migration import MIGRATIONS
from SpiffWorkflow.bpmn.serializer.workflow import VERSION as SERIALIZER_VERSION
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

from app.engine.errors import UnsupportedSaveFormat
from app.i18n import N_

_serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
_registry = _serializer.registry

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


def dumps(workflow: BpmnWorkflow) -> str:
    """The workflow's state as JSON, spec excluded."""
    _registry._encoder_mode = True
    try:
        dct = _serializer.to_dict(workflow)
        dct.pop("spec", None)
        dct.pop("subprocess_specs", None)
        dct[_serializer.VERSION_KEY] = SERIALIZER_VERSION
        return json.dumps(dct, cls=_serializer._encoder_cls, separators=(",", ":"))
    finally:
        _registry._encoder_mode = False


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
    converter = _registry.convert_from_dict[_registry.typenames[BpmnWorkflow]].args[0].__self__
    workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=script_engine, deserializing=True)
    workflow.tasks = converter.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
    workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
    converter.set_default_attributes(workflow, dct)
    converter.subprocesses_from_dict(dct["subprocesses"], workflow)
    workflow.bpmn_events = _registry.restore(dct.pop("bpmn_events", []))
    return workflow
