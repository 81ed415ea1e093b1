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
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser

from app.engine.errors import DefinitionError, Problem
from app.engine.explain import clean, library_problem, schema_problem
from app.engine.links import connect_links
from app.i18n import N_

MAX_BPMN_BYTES = 5 * 1024 * 1024


def sha256(text: str | bytes) -> str:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()


def problem_from(exc: Exception, file_name: str) -> Problem:
    """A library exception as a problem in plain words, naming the element when it is known."""
    if isinstance(exc, ValidationException):
        return library_problem(
            str(exc.args[0]) if exc.args else str(exc),
            element_id=getattr(exc, "id", "") or "",
            element_name=getattr(exc, "name", "") or "",
            file_name=getattr(exc, "file_name", "") or file_name,
            line=getattr(exc, "line_number", None) or None,
        )
    task_spec = getattr(exc, "task_spec", None)
    return library_problem(
        str(exc),
        element_id=getattr(task_spec, "bpmn_id", "") or "",
        element_name=getattr(task_spec, "bpmn_name", "") or "",
        file_name=file_name,
    )


#: At most this many schema errors are listed per file (the first ones usually explain the rest).
MAX_SCHEMA_PROBLEMS = 20


def schema_problems(tree: Any, file_name: str) -> list[Problem]:
    """Every BPMN 2.0 schema violation of ``tree`` (up to MAX_SCHEMA_PROBLEMS), in plain words."""
    VALIDATOR.preprocess(tree)
    if VALIDATOR.validator.validate(tree):
        return []
    return [
        schema_problem(error.message, error.line, tree, file_name)
        for error in list(VALIDATOR.validator.error_log)[:MAX_SCHEMA_PROBLEMS]
    ]


_SAFE_XML = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


def parse_sources(sources: dict[str, str], validate: bool = True) -> SpiffBpmnParser:
    """Load BPMN documents into a parser, collecting every problem before raising.

    XML is read without entity expansion or network access (no XXE from uploads).
    """
    parser = SpiffBpmnParser()
    problems: list[Problem] = []
    for name, text in sources.items():
        if len(text.encode("utf-8")) > MAX_BPMN_BYTES:
            problems.append(Problem(N_("The file is larger than 5 MB."), file_name=name))
            continue
        try:
            tree = etree.fromstring(text.encode("utf-8"), parser=_SAFE_XML)
        except etree.XMLSyntaxError as exc:
            problems.append(Problem(N_("The file is not well-formed XML: %(detail)s"), file_name=name,
                                    line=exc.lineno, params={"detail": clean(exc.msg)}))
            continue
        if validate:
            found = schema_problems(tree, name)
            if found:
                problems += found
                continue
        try:
            parser.add_bpmn_xml(tree, filename=name)
        except Exception as exc:  # noqa: BLE001
            # The library raises more than its own exceptions on unusual diagrams (NotImplementedError
            # for an unknown boundary event, KeyError, ...): each is a problem of the file, never a 500.
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
    except Exception as exc:  # noqa: BLE001 - as in parse_sources
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
        for each in (spec, *subprocess_specs.values()):
            if each is not None:
                connect_loop_children(each)
                connect_links(parser, each)
    except Exception as exc:  # noqa: BLE001 - as in parse_sources
        raise DefinitionError(problems=[problem_from(exc, file_name)]) from exc
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
