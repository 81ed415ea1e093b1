import pytest
from tests.engine import *
from SpiffWorkflow.util.task import TaskState

def test_callsamefile(session, runtime, actor, deploy_sources):
    xml = definitions(simple_process("child", user_task("child_work", "子任务", formKey="note", department="technical"), ["child_work"]).replace('id="start"', 'id="cstart"').replace('id="end"','id="cend"').replace('"start"','"cstart"').replace('"end"','"cend"').replace("f_start","fc_start").replace("_end","_cend"),
                      simple_process("parent", '<bpmn:callActivity id="call" name="调用" calledElement="child" />', ["call"]))
    r = deploy_sources({"both.bpmn": xml})
    print([(d.key, d.version, d.dependencies) for d in r.created])
    inst = runtime.start(session, "parent", {"a": 1}, actor); session.commit()
    ts = open_tasks(session, inst.id); print("samefile", [(t.element_id, t.process_key) for t in ts])

def test_stall(session, runtime, actor, deploy_sources):
    body = ('<bpmn:startEvent id="start" /><bpmn:exclusiveGateway id="split" default="f_a" />'
            '<bpmn:parallelGateway id="join" /><bpmn:endEvent id="end" />'
            + flow("f0", "start", "split") + flow("f_a", "split", "join") + flow("f_b", "split", "join", "False") + flow("f9", "join", "end"))
    deploy_sources({"p.bpmn": definitions(process("stall", body))})
    inst = runtime.start(session, "stall", {}, actor); session.commit()
    wf = runtime.load(session, inst)
    print("stall", inst.status, inst.incident_message, [(t.task_spec.name, TaskState.get_name(t.state)) for t in wf.get_tasks()])

def test_error_end(session, runtime, actor, deploy_sources):
    body = ('<bpmn:startEvent id="start" /><bpmn:endEvent id="end"><bpmn:errorEventDefinition id="e1" errorRef="Err" /></bpmn:endEvent>' + flow("f0", "start", "end"))
    deploy_sources({"p.bpmn": definitions('<bpmn:error id="Err" name="Err" errorCode="E1" />' + process("errp", body))})
    inst = runtime.start(session, "errp", {}, actor); session.commit()
    wf = runtime.load(session, inst)
    print("errend", inst.status, inst.incident_message, [(t.task_spec.name, TaskState.get_name(t.state)) for t in wf.get_tasks()])

@pytest.mark.parametrize("script", ["x = 1/0", "while True: pass", "x = 'a' * 10**9", "def f(n):\n    return f(n + 1)\nf(0)"])
def test_script_incident(session, runtime, actor, deploy_sources, script):
    deploy_sources({"p.bpmn": definitions(simple_process("sp", script_task("bad_script", script, "坏脚本"), ["bad_script"]))})
    inst = runtime.start(session, "sp", {}, actor); session.commit()
    print("script", repr(script), inst.status, inst.incident_message)
