"""The designer's upload form and the starter diagram and form of "new"."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField

from app.i18n import N_


class UploadForm(FlaskForm):
    file = FileField(N_("BPMN file"), validators=[FileRequired()])
    #: set after the designer was told the process id belongs to an unrelated deployed process
    confirm = BooleanField(N_("Deploy it as the next version of the existing process"))


STARTER_FORM = {
    "key": "new_form",
    "title": {"zh": "新表单", "en": "New form"},
    "fields": [
        {"name": "note", "type": "textarea", "label": {"zh": "备注", "en": "Note"}, "required": True},
    ],
}

_STARTER = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" \
xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" \
xmlns:di="http://www.omg.org/spec/DD/20100524/DI" \
xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="Definitions_new" \
targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:collaboration id="Collaboration_new">
    <bpmn:participant id="Participant_new" name="New process" processRef="new_process" />
  </bpmn:collaboration>
  <bpmn:process id="new_process" name="New process" isExecutable="true">
    <bpmn:laneSet id="LaneSet_new">
      <bpmn:lane id="Lane_marketing" name="marketing">
        <bpmn:flowNodeRef>start</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>task_1</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>end</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start" />
    <bpmn:userTask id="task_1" name="New task">
      <bpmn:extensionElements>
        <spiffworkflow:properties>
          <spiffworkflow:property name="formKey" value="FORM" />
        </spiffworkflow:properties>
      </bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:endEvent id="end" />
    <bpmn:sequenceFlow id="flow_1" sourceRef="start" targetRef="task_1" />
    <bpmn:sequenceFlow id="flow_2" sourceRef="task_1" targetRef="end" />
  </bpmn:process>
  <bpmndi:BPMNDiagram id="Diagram_new">
    <bpmndi:BPMNPlane id="Plane_new" bpmnElement="Collaboration_new">
      <bpmndi:BPMNShape id="Participant_new_di" bpmnElement="Participant_new" isHorizontal="true">
        <dc:Bounds x="100" y="80" width="600" height="200" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="Lane_marketing_di" bpmnElement="Lane_marketing" isHorizontal="true">
        <dc:Bounds x="130" y="80" width="570" height="200" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="start_di" bpmnElement="start"><dc:Bounds x="182" y="162" width="36" height="36" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="task_1_di" bpmnElement="task_1"><dc:Bounds x="330" y="140" width="100" height="80" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="end_di" bpmnElement="end"><dc:Bounds x="552" y="162" width="36" height="36" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNEdge id="flow_1_di" bpmnElement="flow_1"><di:waypoint x="218" y="180" />
        <di:waypoint x="330" y="180" /></bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="flow_2_di" bpmnElement="flow_2"><di:waypoint x="430" y="180" />
        <di:waypoint x="552" y="180" /></bpmndi:BPMNEdge>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
"""


def starter_diagram(form_key: str = "") -> str:
    """One lane (marketing) with start → a user task → end; the task's form is to be chosen."""
    return _STARTER.replace('value="FORM"', f'value="{form_key}"')
