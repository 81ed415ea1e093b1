"""Constructs the app cannot run are refused at deploy, naming the element and saying what to do
instead, in plain words; library and schema errors are translated the same way."""

from __future__ import annotations

import pytest

from app.engine.definitions.deploy import validate_sources
from app.services.setup import known_department_names
from tests.designer.corpus_run import LEAKS
from tests.designer.test_corpus import CORPUS
from tests.engine import definitions, simple_process

CAMUNDA = 'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" '


def _problems(session, body: str, elements: list[str]) -> list:
    xml = definitions(simple_process("p", body, elements))
    xml = xml.replace("<bpmn:definitions ", "<bpmn:definitions " + CAMUNDA, 1)
    return validate_sources(session, {"p.bpmn": xml}, known_department_names(session))


@pytest.mark.parametrize(("body", "expected"), [
    ('<bpmn:serviceTask id="x" name="调用接口" />', "Service tasks are not available"),
    ('<bpmn:businessRuleTask id="x" name="决策" />', "Decision tables (DMN business rule tasks)"),
    ('<bpmn:scriptTask id="x" scriptFormat="javascript"><bpmn:script>var a = 1;</bpmn:script></bpmn:scriptTask>',
     "this script is javascript: rewrite it in Python"),
    ('<bpmn:scriptTask id="x" scriptFormat="groovy" camunda:resource="deployment://x.groovy" />',
     "external resource (deployment://x.groovy)"),
    ('<bpmn:sendTask id="x" camunda:class="org.example.Mail" />', "Java code or an external worker (camunda:class)"),
    ('<bpmn:complexGateway id="x" />', "Complex gateways are not available"),
    ('<bpmn:intermediateThrowEvent id="x"><bpmn:compensateEventDefinition /></bpmn:intermediateThrowEvent>',
     "Compensation is not available"),
    ('<bpmn:task id="x" name="任务" />', "done by nobody"),
], ids=["service", "dmn", "javascript", "external-script", "java", "complex-gateway", "compensation",
        "plain-task-without-department"])
def test_unsupported_construct_is_refused_naming_the_element(session, body, expected):
    problems = _problems(session, body, ["x"])
    mine = [p for p in problems if p.element_id == "x"]
    assert mine and any(expected in p.text() for p in mine), [p.text() for p in problems]
    assert not any(LEAKS.search(p.text()) for p in problems)


def test_camunda_user_task_gets_a_hint_instead_of_the_generic_refusal(session):
    xml = (CORPUS / "own" / "camunda_user_task.bpmn").read_text("utf-8")
    problems = validate_sources(session, {"c.bpmn": xml}, known_department_names(session))
    texts = [p.text() for p in problems]
    assert all(p.element_id == "approve" for p in problems)
    assert any('camunda:formKey "note"' in t for t in texts) and any('candidateGroups "quality"' in t for t in texts)
    assert "user task has no formKey property" not in texts


def test_schema_errors_name_the_element_and_line_in_plain_words(session):
    xml = definitions(simple_process("p", '<bpmn:task id="dup" name="甲" /><bpmn:task id="dup" name="乙" />',
                                     ["dup"]))
    problems = validate_sources(session, {"d.bpmn": xml}, known_department_names(session))
    assert any(p.element_id == "dup" and p.line and "used by more than one element" in p.text() for p in problems)
    assert not any("xs:ID" in p.text() or "{http" in p.text() for p in problems)
