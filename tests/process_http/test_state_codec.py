"""The state codec (app/engine/codec.py) against SpiffWorkflow's own serializer, on the states the
production diagrams really reach: call activities, multi-instance reports, parallel branches,
timers waiting, a message-started corrective-action process, a completed instance.

The codec converts the task tree itself for speed; it must write exactly what the library writes
(minus the spec) and load exactly what the library loads."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from app.data.models import ProcessInstance
from app.engine import codec
from app.engine.definitions.lookup import load_spec
from tests.process_http.payloads import CLOSE_ACCEPTED, EIGHT_D, RETURN_VISIT, analysis, intake, verify_ok

D5 = [{"action": "增加炉温点检", "owner": "张三", "due_date": "2026-03-04", "verification": "点检记录"}]


def library_load(state: str, parsed: Any) -> Any:
    """The library's own load of a codec state: the spec put back inline, then from_dict."""
    dct = json.loads(state)
    dct.pop("serializer_version")
    dct["spec"] = codec._serializer.to_dict(parsed.spec)
    dct["subprocess_specs"] = {k: codec._serializer.to_dict(v) for k, v in parsed.subprocess_specs.items()}
    return codec._serializer.from_dict(dct)


def library_dump(workflow: Any) -> dict[str, Any]:
    """The library's own save of ``workflow``, as a dict without the spec."""
    dct = json.loads(codec._serializer.serialize_json(workflow))
    del dct["spec"], dct["subprocess_specs"]
    return dct


def task_facts(workflow: Any) -> dict[str, Any]:
    """Everything a task carries, for every task of the workflow and its subprocesses."""
    facts = {}
    for wf in (workflow, *workflow.subprocesses.values()):
        for task in wf.tasks.values():
            parent = wf.tasks.get(task._parent)
            # which values a task shares with its parent (the library copies one level deep)
            shared = sorted(k for k, v in task.data.items() if parent is not None and parent.data.get(k) is v)
            facts[str(task.id)] = (
                type(task), task.task_spec.name, task.state, task._parent, task._children, task.triggered,
                task.last_state_change, task.data, task.internal_data, task.workflow.spec.name, shared,
            )
    return facts


def workflow_facts(workflow: Any) -> dict[str, Any]:
    return {
        "data": workflow.data, "success": workflow.success, "completed": workflow.completed,
        "last_task": workflow.last_task.id if workflow.last_task else None, "root": workflow.task_tree.id,
        "correlations": workflow.correlations, "events": sorted(map(str, workflow.event_manager.tasks)),
        "subprocesses": {str(k): (type(v), v.spec.name, v.parent_task_id, v.data, v.task_tree.id)
                         for k, v in workflow.subprocesses.items()},
        "bpmn_events": len(workflow.bpmn_events),
        "waiting": [(e.name, e.event_type, e.value) for e in workflow.waiting_events()],
    }


def check_every_instance(flow) -> int:
    """Each stored state: the codec loads what the library loads, and both write it back exactly
    as stored; a task's parent and children are the very ids the task table is keyed by."""
    checked = 0
    with flow.database.session() as session:
        for row in session.scalars(select(ProcessInstance).order_by(ProcessInstance.id)):
            parsed = load_spec(session, row.definition)
            ours = codec.loads(row.state, parsed.spec, parsed.subprocess_specs, None)
            theirs = library_load(row.state, parsed)
            assert task_facts(ours) == task_facts(theirs)
            assert workflow_facts(ours) == workflow_facts(theirs)
            assert codec.dumps(ours) == codec.dumps(theirs) == row.state
            assert json.loads(row.state) | {"serializer_version": None} == library_dump(ours) | {
                "serializer_version": None}
            for wf in (ours, *ours.subprocesses.values()):
                for task in wf.tasks.values():
                    parent = wf.tasks.get(task._parent)
                    assert parent is None or task._parent is parent.id
                    assert all(child is wf.tasks[child].id for child in task._children)
            checked += 1
    return checked


def test_codec_writes_and_reads_what_the_library_does(flow):
    case_id = flow.open_case(**intake())
    flow.verify(case_id, verify_ok(onsite_needed=True), via="api")
    flow.complete("marketing", "onsite", {"visit_date": "2026-03-02", "engineer": "赵工",
                                          "findings": "现场确认报警"}, case_id, via="api")
    flow.complete("quality", "preliminary", analysis(responsible_departments=["production", "purchasing"],
                                                     approve_shipment=True), case_id, via="api")
    assert check_every_instance(flow) == 1  # parallel branches, two reports of a multi-instance
    flow.complete("production", "report", {**EIGHT_D, "d5_corrective": D5}, case_id, via="api")
    flow.complete("quality", "verify_8d", {"decision": "accept", "reason": "措施有效"}, case_id, via="api")
    flow.complete("purchasing", "report", EIGHT_D, case_id, via="api")
    assert check_every_instance(flow) == 2  # and the corrective action started by a message
    flow.complete("quality", "verify_8d", {"decision": "accept", "reason": "措施有效"}, case_id, via="api")
    flow.complete("warehouse", "shipment", {"items": [{"item": "控制板", "model": "CB-2", "qty": 2}],
                                            "carrier": "顺丰", "tracking_number": "SF123",
                                            "freight_cost": "35.50", "shipped_on": "2026-03-02"}, case_id, via="api")
    flow.complete("quality", "summary", {"measures_summary": "各部门措施见8D"}, case_id, via="api")
    flow.complete("marketing", "close_case", CLOSE_ACCEPTED, case_id, via="api")
    assert check_every_instance(flow) == 3  # the survey timer waiting; a corrective action per 8D
    assert flow.advance(timedelta(days=3, minutes=1), flow.instance_id(case_id))
    flow.complete("marketing", "return_visit", RETURN_VISIT, case_id, via="api")
    assert check_every_instance(flow) == 3  # the case's process completed
