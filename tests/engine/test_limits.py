"""Bounded work per operation: multi-instance size and the CPU budget of diagram code."""

from __future__ import annotations

import pytest

from app.data.models import InstanceStatus
from app.engine import limits
from app.engine.errors import DefinitionError
from app.engine.runtime import WorkflowRuntime
from app.engine.sandbox import SandboxEnvironment, ScriptTimeout
from tests.engine import definitions, open_tasks, script_task, simple_process, user_task


def _mi(pid: str, loop_inner: str) -> str:
    loop = f"<bpmn:multiInstanceLoopCharacteristics>{loop_inner}</bpmn:multiInstanceLoopCharacteristics>"
    body = user_task("report", "报告", inner=loop, formKey="report", department="quality")
    return definitions(simple_process(pid, body, ["report"]))


COLLECTION = ("<bpmn:loopDataInputRef>items</bpmn:loopDataInputRef>"
              '<bpmn:inputDataItem id="item" name="item" />')


def test_a_written_cardinality_above_the_limit_is_refused_at_deploy(deploy_sources):
    cardinality = f"<bpmn:loopCardinality>{limits.settings.max_multi_instance + 1}</bpmn:loopCardinality>"
    with pytest.raises(DefinitionError) as refused:
        deploy_sources({"big.bpmn": _mi("big", cardinality)})
    assert any(p.message == limits.TOO_MANY_INSTANCES_STATIC and p.element_id == "report"
               for p in refused.value.problems), refused.value.problems


def test_a_written_cardinality_within_the_limit_deploys(deploy_sources):
    deploy_sources({"small.bpmn": _mi("small", "<bpmn:loopCardinality>3</bpmn:loopCardinality>")})


def test_a_collection_above_the_limit_is_an_incident_not_thousands_of_tasks(session, actor, deploy_sources):
    deploy_sources({"coll.bpmn": _mi("coll", COLLECTION)})
    runtime = WorkflowRuntime(max_multi_instance=5)
    ok = runtime.start(session, "coll", {"items": list(range(5))}, actor)
    assert len(open_tasks(session, ok.id)) == 5
    big = runtime.start(session, "coll", {"items": list(range(5000))}, actor)
    session.commit()
    assert big.status == InstanceStatus.INCIDENT
    assert open_tasks(session, big.id) == []
    assert "5000" in big.incident_message and "MAX_MULTI_INSTANCE" in big.incident_message


def test_a_computed_cardinality_above_the_limit_is_an_incident(session, actor, deploy_sources):
    deploy_sources({"comp.bpmn": _mi("comp", "<bpmn:loopCardinality>n * 1000</bpmn:loopCardinality>")})
    started = WorkflowRuntime(max_multi_instance=50).start(session, "comp", {"n": 5}, actor)
    assert started.status == InstanceStatus.INCIDENT
    assert open_tasks(session, started.id) == []


def test_the_cpu_budget_is_shared_by_all_code_of_one_environment():
    env = SandboxEnvironment(cpu_limit=10, cpu_budget=0.2)
    with pytest.raises(ScriptTimeout, match="SCRIPT_CPU_BUDGET_SECONDS"):
        env.execute("x = 0\nwhile True:\n    x = x + 1", {})
    assert env.cpu_used >= 0.2
    with pytest.raises(ScriptTimeout, match="SCRIPT_CPU_BUDGET_SECONDS"):  # nothing left for the next one
        env.evaluate("1 + 1", {})
    assert SandboxEnvironment(cpu_limit=10).evaluate("1 + 1", {}) == 2  # no budget: only the limit


def test_a_step_over_the_cpu_budget_is_an_incident(session, actor, deploy_sources):
    body = script_task("spin", "x = 0\nwhile True:\n    x = x + 1") + \
        user_task("work", "处理", formKey="note", department="quality")
    deploy_sources({"burn.bpmn": definitions(simple_process("burn", body, ["spin", "work"]))})
    runtime = WorkflowRuntime(script_cpu_limit=5, script_cpu_budget=0.3)
    started = runtime.start(session, "burn", {}, actor)
    assert started.status == InstanceStatus.INCIDENT
    assert "SCRIPT_CPU_BUDGET_SECONDS" in started.incident_message


def test_incident_messages_are_translated_with_their_prefix():
    stored = "report (报告): " + limits.TOO_MANY_INSTANCES % {"count": 5000, "limit": 200}

    def translate(template: str, **params: str) -> str:
        assert template == limits.TOO_MANY_INSTANCES
        return f"太多 {params['count']}/{params['limit']}"

    assert limits.translate_incident(stored, translate) == "report (报告): 太多 5000/200"
    assert limits.translate_incident("something else", translate) == "something else"
