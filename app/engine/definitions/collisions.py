"""Uploads whose process id equals a deployed key but whose content is unrelated to it.

Diagrams from other tools often share ids such as ``Process_1`` or ``main``; deploying one
would silently stack it as the next version of an unrelated process (and offer diffs and
migrations between the two). Modelers keep element ids when a diagram is edited, and give new
diagrams fresh random ids, so the share of flow-node ids two versions have in common tells an
edit from a different diagram (sequence flows are left out: hand-written diagrams number them
alike). Below :data:`RELATED_SHARE` the upload is unrelated and needs the designer's confirmation.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree
from sqlalchemy.orm import Session

from app.engine.definitions.lookup import latest_definition

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
#: Jaccard share of element ids at or above which an upload counts as a version of the deployed process.
RELATED_SHARE = 0.3
_FLOW_TAGS = {
    f"{{{BPMN_NS}}}{tag}" for tag in (
        "startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent",
        "task", "userTask", "manualTask", "scriptTask", "serviceTask", "sendTask", "receiveTask",
        "businessRuleTask", "callActivity", "subProcess", "transaction", "adHocSubProcess",
        "exclusiveGateway", "inclusiveGateway", "parallelGateway", "eventBasedGateway", "complexGateway",
    )
}
_SAFE_XML = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


@dataclass(frozen=True)
class Collision:
    """An uploaded process id that is the key of an unrelated deployed process."""

    key: str
    version: int
    share: float  # the share of element ids both have in common (0..1)


def _processes(xml: str) -> dict[str, set[str]]:
    """Executable process id → ids of its flow nodes (nested ones included)."""
    try:
        root = etree.fromstring(xml.encode("utf-8"), parser=_SAFE_XML)
    except etree.XMLSyntaxError:
        return {}
    return {
        process.get("id", ""): {e.get("id", "") for e in process.iter() if e.tag in _FLOW_TAGS and e.get("id")}
        for process in root.iter(f"{{{BPMN_NS}}}process")
        if process.get("isExecutable") == "true" and process.get("id")
    }


def share(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def unrelated_collisions(session: Session, sources: dict[str, str]) -> list[Collision]:
    """The processes of ``sources`` whose id is a deployed key with unrelated content."""
    found: list[Collision] = []
    for xml in sources.values():
        for key, elements in _processes(xml).items():
            live = latest_definition(session, key)
            if live is None:
                continue
            deployed = _processes(live.bpmn_xml).get(key, set())
            common = share(elements, deployed)
            if common < RELATED_SHARE:
                found.append(Collision(key, live.version, round(common, 2)))
    return found
