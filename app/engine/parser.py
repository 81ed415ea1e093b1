"""Parsing and validating BPMN, and the cache of parsed specs keyed by content hash."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import SubWorkflowTask
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser

from app.engine.errors import DefinitionError, Problem

MAX_BPMN_BYTES = 5 * 1024 * 1024


def sha256(text: str | bytes) -> str:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()


def problem_from(exc: Exception, file_name: str) -> Problem:
    if isinstance(exc, ValidationException):
        return Problem(
            message=str(exc.args[0]) if exc.args else str(exc),
            element_id=getattr(exc, "id", "") or "",
            element_name=getattr(exc, "name", "") or "",
            file_name=getattr(exc, "file_name", "") or file_name,
            line=getattr(exc, "line_number", None) or None,
        )
    task_spec = getattr(exc, "task_spec", None)
    return Problem(
        message=str(exc),
        element_id=getattr(task_spec, "bpmn_id", "") or "",
        element_name=getattr(task_spec, "bpmn_name", "") or "",
        file_name=file_name,
    )


_SAFE_XML = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


def parse_sources(sources: dict[str, str], validate: bool = True) -> SpiffBpmnParser:
    """Load BPMN documents into a parser, collecting every problem before raising.

    XML is read without entity expansion or network access (no XXE from uploads).
    """
    parser = SpiffBpmnParser(validator=VALIDATOR if validate else None)
    problems: list[Problem] = []
    for name, text in sources.items():
        if len(text.encode("utf-8")) > MAX_BPMN_BYTES:
            problems.append(Problem("file is larger than 5 MB", file_name=name))
            continue
        try:
            tree = etree.fromstring(text.encode("utf-8"), parser=_SAFE_XML)
        except etree.XMLSyntaxError as exc:
            problems.append(Problem(f"not well-formed XML: {exc.msg}", file_name=name, line=exc.lineno))
            continue
        try:
            parser.add_bpmn_xml(tree, filename=name)
        except (ValidationException, SpiffWorkflowException) as exc:
            problems.append(problem_from(exc, name))
    if problems:
        raise DefinitionError(problems=problems)
    return parser


def process_ids(parser: SpiffBpmnParser) -> list[str]:
    """Executable process ids, in document order."""
    return list(parser.get_process_ids())


def called_processes(parser: SpiffBpmnParser, process_id: str) -> set[str]:
    """Ids of the processes that ``process_id`` calls, directly or not, as far as known."""
    try:
        specs = parser.get_subprocess_specs(process_id, require_call_activity_specs=False)
    except (ValidationException, SpiffWorkflowException) as exc:
        file_name = getattr(parser.get_process_parser(process_id), "filename", "") or ""
        raise DefinitionError(problems=[problem_from(exc, file_name)]) from exc
    return set(specs) & set(parser.get_process_dependencies())  # embedded subprocesses are no calls


def connect_loop_children(spec: Any) -> None:
    """Wire each loop task's child spec to the loop's merge, as the library's spec deserializer
    does. A freshly parsed spec is only wired when it creates a child itself, so an instance
    whose multi-instance children were created before a restart would never finish its loop."""
    for task_spec in spec.task_specs.values():
        if isinstance(task_spec, LoopTask):
            child = spec.task_specs.get(task_spec.task_spec)
            if child is not None and not child.completed_event.is_connected(task_spec.merge_child):
                child.completed_event.connect(task_spec.merge_child)


def build_specs(parser: SpiffBpmnParser, process_id: str, file_name: str = "") -> tuple[Any, dict[str, Any]]:
    """The spec of ``process_id`` and its subprocess specs; problems become DefinitionError."""
    try:
        spec = parser.get_spec(process_id)
        subprocess_specs = parser.get_subprocess_specs(process_id)
    except (ValidationException, SpiffWorkflowException) as exc:
        raise DefinitionError(problems=[problem_from(exc, file_name)]) from exc
    for each in (spec, *subprocess_specs.values()):
        if each is not None:
            connect_loop_children(each)
    return spec, subprocess_specs


def iter_task_specs(spec: Any, subprocess_specs: dict[str, Any]) -> Iterable[Any]:
    """Every task spec of a process and its subprocesses."""
    yield from spec.task_specs.values()
    for sub in subprocess_specs.values():
        if sub is not None:
            yield from sub.task_specs.values()


def is_call(task_spec: Any) -> bool:
    return isinstance(task_spec, SubWorkflowTask)


@dataclass(frozen=True)
class ParsedSpec:
    spec: Any
    subprocess_specs: dict[str, Any]


class SpecCache:
    """A small thread-safe LRU of parsed specs, keyed by a definition's spec hash."""

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._items: OrderedDict[str, ParsedSpec] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, build: Callable[[], ParsedSpec]) -> ParsedSpec:
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                return hit
        parsed = build()
        with self._lock:
            self._items[key] = parsed
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return parsed

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


spec_cache = SpecCache()
