"""Link events: SpiffWorkflow 3.2 parses a link event as a plain (none) event, so a throwing link
would end its path and the catching link would never be reached. Each throwing link event is
wired to the catching link events of the same name in the same (sub)process — the "go to" that
BPMN means — whenever a spec is built, so deployed diagrams and saved instances agree."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SCOPES = {f"{{{BPMN_NS}}}{tag}" for tag in ("process", "subProcess", "transaction", "adHocSubProcess")}
LINK = f"{{{BPMN_NS}}}linkEventDefinition"
THROW = f"{{{BPMN_NS}}}intermediateThrowEvent"
CATCH = f"{{{BPMN_NS}}}intermediateCatchEvent"


def link_events(root: Any) -> dict[str, dict[str, tuple[list[Any], list[Any]]]]:
    """Per scope (process or subprocess id): link name → (throwing events, catching events)."""
    scopes: dict[str, dict[str, tuple[list[Any], list[Any]]]] = {}
    for definition in root.iter(LINK):
        event = definition.getparent()
        if event is None or event.tag not in (THROW, CATCH):
            continue
        scope = event.getparent()
        while scope is not None and scope.tag not in SCOPES:
            scope = scope.getparent()
        if scope is None:
            continue
        name = (definition.get("name") or "").strip()
        throws, catches = scopes.setdefault(scope.get("id", ""), {}).setdefault(name, ([], []))
        (throws if event.tag == THROW else catches).append(event)
    return scopes


def _roots(parser: Any) -> Iterable[Any]:
    seen: set[int] = set()
    for process_parser in list(parser.process_parsers.values()):
        root = process_parser.node.getroottree().getroot()
        if id(root) not in seen:
            seen.add(id(root))
            yield root


def connect_links(parser: Any, spec: Any) -> None:
    """Connect each throwing link event of ``spec`` to the catching ones with its name.

    The library parses only what flows reach from a start event, so a catching link event (it has
    no incoming flow) and what follows it are parsed here first."""
    process_parser = parser.process_parsers.get(spec.name)
    for root in _roots(parser):
        for throws, catches in link_events(root).get(spec.name, {}).values():
            sources = [spec.task_specs[t.get("id")] for t in throws if t.get("id") in spec.task_specs]
            if not sources or process_parser is None:
                continue
            for catch in catches:
                target = spec.task_specs.get(catch.get("id")) or process_parser.parse_node(catch)
                for source in sources:
                    if target not in source.outputs:
                        source.connect(target)
