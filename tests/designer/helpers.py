"""Diagrams for the designer tests, derived from the fixture feedback_case diagram."""

from __future__ import annotations

import re

from sqlalchemy import select

from app.data.models import HumanTask, TaskState
from tests.conftest import FIXTURES

CASE_XML = (FIXTURES / "bpmn" / "feedback_case.bpmn").read_text(encoding="utf-8")
SIMPLE_XML = (FIXTURES / "bpmn" / "simple.bpmn").read_text(encoding="utf-8")
VERIFY_OK = {"info_complete": "yes", "verify_note": "ok", "measures": [{"action": "更换", "owner": "production"}]}


def renamed(xml: str = CASE_XML) -> str:
    """v2: the analysis task renamed (a safe change for a task in progress)."""
    return xml.replace('name="初步分析"', 'name="初步分析(新)"')


def with_extra_step(xml: str = CASE_XML) -> str:
    """v2: a script step added between 8D and close (and the 8D task renamed)."""
    return xml.replace(
        '<bpmn:sequenceFlow id="f5" sourceRef="eight_d" targetRef="close" />',
        '<bpmn:sequenceFlow id="f5" sourceRef="eight_d" targetRef="extra" />'
        '<bpmn:scriptTask id="extra" name="Extra"><bpmn:script>extra_done = True</bpmn:script></bpmn:scriptTask>'
        '<bpmn:sequenceFlow id="f5b" sourceRef="extra" targetRef="close" />',
    )


def without_analysis(xml: str = CASE_XML) -> str:
    """v2: the analysis task removed (the gateway leads straight to 8D)."""
    xml = re.sub(r'<bpmn:userTask id="analysis".*?</bpmn:userTask>', "", xml, flags=re.S)
    xml = xml.replace("<bpmn:flowNodeRef>analysis</bpmn:flowNodeRef>", "")
    xml = re.sub(r'<bpmn:sequenceFlow id="f4"[^>]*/>', "", xml)
    xml = xml.replace('id="f_yes" sourceRef="gw_complete" targetRef="analysis"',
                      'id="f_yes" sourceRef="gw_complete" targetRef="eight_d"')
    return re.sub(r'<bpmndi:BPMN\w+ id="(analysis|f4)_di".*?</bpmndi:BPMN\w+>', "", xml)


def rerouted_analysis(xml: str = CASE_XML) -> str:
    """v2: the open analysis task now uses another form (unsafe for a task in progress)."""
    return xml.replace('<spiffworkflow:property name="formKey" value="analysis_fixture" />',
                       '<spiffworkflow:property name="formKey" value="note" />')


def broken(xml: str = CASE_XML) -> str:
    """Problems on named elements: unknown form, unknown department, dead end, bad timer, bad script."""
    xml = xml.replace('value="verify_fixture"', 'value="no_such_form"')
    xml = xml.replace('<spiffworkflow:property name="dueAt" value="PT48H" />',
                      '<spiffworkflow:property name="dueAt" value="PT48H" />'
                      '<spiffworkflow:property name="department" value="no_such_dept" />')
    xml = xml.replace('<bpmn:script>case_status = "closed"</bpmn:script>',
                      '<bpmn:script>case_status = ().__class__.__bases__</bpmn:script>')
    # a dead end: a task nobody leaves, and a timer that is not a duration
    return xml.replace(
        '<bpmn:endEvent id="end" />',
        '<bpmn:endEvent id="end" />'
        '<bpmn:userTask id="dead_end" name="死路"><bpmn:extensionElements><spiffworkflow:properties>'
        '<spiffworkflow:property name="formKey" value="note" /></spiffworkflow:properties>'
        '</bpmn:extensionElements></bpmn:userTask>'
        '<bpmn:boundaryEvent id="bad_timer" attachedToRef="close"><bpmn:timerEventDefinition>'
        '<bpmn:timeDuration>"three days"</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:boundaryEvent>'
        '<bpmn:sequenceFlow id="f_dead" sourceRef="bad_timer" targetRef="dead_end" />',
    )


XXE = """<?xml version="1.0"?>
<!DOCTYPE bpmn:definitions [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D" targetNamespace="x">
  <bpmn:process id="xxe_process" name="&xxe;" isExecutable="true">
    <bpmn:startEvent id="start" /><bpmn:endEvent id="end" />
    <bpmn:sequenceFlow id="f" sourceRef="start" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""

LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D" targetNamespace="x">
  <bpmn:process id="lol_process" name="&lol9;" isExecutable="true">
    <bpmn:startEvent id="start" /><bpmn:endEvent id="end" />
    <bpmn:sequenceFlow id="f" sourceRef="start" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""


def open_tasks(session, instance_id: int) -> list[HumanTask]:
    return list(session.scalars(
        select(HumanTask).where(HumanTask.instance_id == instance_id, HumanTask.state == TaskState.OPEN)
        .order_by(HumanTask.created_at, HumanTask.id)
    ))
