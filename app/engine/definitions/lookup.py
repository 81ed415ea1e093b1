"""Look-ups of deployed definitions: latest versions, parsed specs (cached by hash), task
properties, message starts, starts by hand and the live version of every process."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.bpmn.specs.mixins.user_task import UserTask
from sqlalchemy import and_, bindparam, func, select
from sqlalchemy.orm import Session

from app.data.models import FormDefinition, ProcessDefinition
from app.engine.errors import NotFound
from app.engine.parser import ParsedSpec, build_specs, parse_sources, spec_cache
from app.engine.properties import listed


def task_properties(task_spec: Any) -> dict[str, str]:
    """Our extension properties on a task (``spiffworkflow:property`` elements)."""
    extensions = getattr(task_spec, "extensions", None) or {}
    return dict(extensions.get("properties") or {})


def is_user_task(task_spec: Any) -> bool:
    return isinstance(task_spec, UserTask) or getattr(task_spec, "manual", False)


#: the latest version of a form or a process by key (built once: every start reads the process's);
#: key look-ups on the (key, version) index, so their plans may be kept although they rank
#: (app/data/db.py, plans_per_run)
_LATEST_FORM = (select(FormDefinition).where(FormDefinition.key == bindparam("key"))
                .order_by(FormDefinition.version.desc()).limit(1).execution_options(plan_per_run=False))
_LATEST_DEFINITION = (select(ProcessDefinition).where(ProcessDefinition.key == bindparam("key"))
                      .order_by(ProcessDefinition.version.desc()).limit(1).execution_options(plan_per_run=False))


def latest_form(session: Session, key: str) -> FormDefinition | None:
    return session.scalars(_LATEST_FORM, {"key": key}).first()


def latest_definition(session: Session, key: str) -> ProcessDefinition | None:
    return session.scalars(_LATEST_DEFINITION, {"key": key}).first()


def get_definition(session: Session, definition_id: int) -> ProcessDefinition:
    definition = session.get(ProcessDefinition, definition_id)
    if definition is None:
        raise NotFound(f"process definition {definition_id} not found")
    return definition


def sources_for(session: Session, definition: ProcessDefinition) -> dict[str, str]:
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
        parser = parse_sources(sources_for(session, definition), validate=False)
        spec, subprocess_specs = build_specs(parser, definition.key)
        return ParsedSpec(spec, subprocess_specs)

    return spec_cache.get(definition.spec_hash, build)


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


def start_message(spec: Any) -> str | None:
    """The message name the process's start event waits for, or None for a plain start."""
    for task_spec in spec.task_specs.values():
        event_definition = getattr(task_spec, "event_definition", None)
        if isinstance(task_spec, StartEvent) and isinstance(event_definition, MessageEventDefinition):
            return str(event_definition.name)
    return None


@dataclass(frozen=True)
class ManualStart:
    """What a process's start event says about starting it by hand: who may (``manualStart``
    values, see :mod:`app.engine.properties`) and the form of the start data (``startForm``)."""

    who: tuple[str, ...]
    form_key: str | None


def manual_start(spec: Any) -> ManualStart | None:
    """How the process may be started by hand, or None when its diagram names nobody."""
    for task_spec in spec.task_specs.values():
        message = isinstance(getattr(task_spec, "event_definition", None), MessageEventDefinition)
        if not isinstance(task_spec, StartEvent) or message:
            continue
        props = task_properties(task_spec)
        if "manualStart" in props:
            return ManualStart(listed(props["manualStart"]), props.get("startForm") or None)
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


BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
_english_names: dict[tuple[str, str], str | None] = {}


def _name_en(xml: str, process_id: str) -> str | None:
    try:
        root = etree.fromstring(xml.encode("utf-8"), etree.XMLParser(resolve_entities=False, no_network=True))
    except (etree.XMLSyntaxError, ValueError):
        return None
    for process in root.iter(f"{{{BPMN_NS}}}process"):
        if process.get("id") != process_id:
            continue
        path = f"{{{BPMN_NS}}}extensionElements/{{{SPIFF_NS}}}properties/{{{SPIFF_NS}}}property"
        for prop in process.iterfind(path):
            if prop.get("name") == "nameEn" and (prop.get("value") or "").strip():
                return str(prop.get("value")).strip()
    return None


def process_name(definition: ProcessDefinition, locale: str) -> str:
    """A deployed process's name in ``locale``: the process element's ``nameEn`` property in
    English (cached per content), else its name, else its key."""
    if locale == "en":
        cache_key = (definition.content_hash, definition.key)
        if cache_key not in _english_names:
            _english_names[cache_key] = _name_en(definition.bpmn_xml, definition.key)
        if english := _english_names[cache_key]:
            return english
    return definition.name or definition.key
