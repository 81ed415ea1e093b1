"""Engine tests: helpers to write small BPMN diagrams inline and to drive the runtime."""

from __future__ import annotations

import json
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from sqlalchemy import event, select

from app.data.models import AuditEvent, HumanTask, ProcessInstance, TaskState

HERE = Path(__file__).resolve().parent
BPMN_DIR = HERE / "bpmn"
FORMS_DIR = HERE / "forms"

NS = (
    'xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
)


def statements_during(source, call) -> list[str]:
    """The SQL statements ``call()`` sends through an engine (``source``, or a session's), as sent."""
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_rest):
        seen.append(statement)

    engine = source.get_bind() if hasattr(source, "get_bind") else source
    event.listen(engine, "before_cursor_execute", count)
    try:
        call()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return seen


def forms() -> dict[str, dict]:
    """The engine tests' form definitions (tests/engine/forms/*.json) by key."""
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(FORMS_DIR.glob("*.json"))}


def diagram(name: str) -> dict[str, str]:
    """``{file name: xml}`` for one file of tests/engine/bpmn/."""
    path = BPMN_DIR / name
    return {path.name: path.read_text(encoding="utf-8")}


def props(**values: str) -> str:
    """A ``spiffworkflow:properties`` extension block."""
    items = "".join(
        f"<spiffworkflow:property name={quoteattr(k)} value={quoteattr(v)} />" for k, v in values.items()
    )
    block = f"<spiffworkflow:properties>{items}</spiffworkflow:properties>"
    return f"<bpmn:extensionElements>{block}</bpmn:extensionElements>"


def user_task(element_id: str, name: str = "", inner: str = "", **properties: str) -> str:
    """A user task with our extension properties (formKey, department, dueAt, nameEn...)."""
    return (
        f"<bpmn:userTask id={quoteattr(element_id)} name={quoteattr(name or element_id)}>"
        f"{props(**properties) if properties else ''}{inner}</bpmn:userTask>"
    )


def script_task(element_id: str, script: str, name: str = "") -> str:
    return (
        f"<bpmn:scriptTask id={quoteattr(element_id)} name={quoteattr(name or element_id)}>"
        f"<bpmn:script>{escape(script)}</bpmn:script></bpmn:scriptTask>"
    )


def flow(flow_id: str, source: str, target: str, condition: str | None = None) -> str:
    cond = (
        f'<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{escape(condition)}</bpmn:conditionExpression>'
        if condition is not None
        else ""
    )
    return f'<bpmn:sequenceFlow id="{flow_id}" sourceRef="{source}" targetRef="{target}">{cond}</bpmn:sequenceFlow>'


def chain(*nodes: str, prefix: str = "f") -> str:
    """Sequence flows joining ``nodes`` one after the other."""
    return "".join(flow(f"{prefix}_{a}_{b}", a, b) for a, b in zip(nodes, nodes[1:], strict=False))


def process(pid: str, body: str, lanes: dict[str, list[str]] | None = None, name: str = "") -> str:
    """One executable ``bpmn:process`` element; ``lanes`` maps a lane name to its node ids."""
    lane_xml = ""
    if lanes:
        lane_xml = f'<bpmn:laneSet id="LaneSet_{pid}">' + "".join(
            f'<bpmn:lane id="Lane_{pid}_{i}" name={quoteattr(lane)}>'
            + "".join(f"<bpmn:flowNodeRef>{ref}</bpmn:flowNodeRef>" for ref in refs)
            + "</bpmn:lane>"
            for i, (lane, refs) in enumerate(lanes.items())
        ) + "</bpmn:laneSet>"
    return f'<bpmn:process id="{pid}" name={quoteattr(name or pid)} isExecutable="true">{lane_xml}{body}</bpmn:process>'


def definitions(*processes: str, def_id: str = "Defs") -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?><bpmn:definitions {NS} id="{def_id}" targetNamespace="http://bpmn.io/schema/bpmn">{"".join(processes)}</bpmn:definitions>'


def simple_process(pid: str, body: str, nodes: list[str], lanes: dict[str, list[str]] | None = None) -> str:
    """A process whose ``body`` elements are chained start → nodes... → end."""
    return process(pid, '<bpmn:startEvent id="start" />' + body + '<bpmn:endEvent id="end" />'
                   + chain("start", *nodes, "end"), lanes)


def one_task_process(pid: str = "one_task", department: str = "quality", form: str = "note") -> str:
    return definitions(
        simple_process(pid, user_task("work", "处理", formKey=form, department=department, nameEn="Work"), ["work"])
    )


# ------------------------------------------------------------------------- queries


def open_tasks(session, instance_id: int) -> list[HumanTask]:
    return list(
        session.scalars(
            select(HumanTask)
            .where(HumanTask.instance_id == instance_id, HumanTask.state == TaskState.OPEN)
            .order_by(HumanTask.element_id, HumanTask.created_at)
        )
    )


def tasks(session, instance_id: int) -> list[HumanTask]:
    return list(session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id)))


def audit(session, instance_id: int, action: str | None = None) -> list[AuditEvent]:
    stmt = select(AuditEvent).where(AuditEvent.instance_id == instance_id)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    return list(session.scalars(stmt.order_by(AuditEvent.id)))


def instance(session, instance_id: int) -> ProcessInstance:
    row = session.get(ProcessInstance, instance_id, populate_existing=True)
    assert row is not None
    return row
