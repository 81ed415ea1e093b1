"""Deploying diagrams: immutable versions, idempotence, and refusals that name the element."""

from __future__ import annotations

import pytest

from app.data.models import InstanceStatus, ProcessDefinition
from app.engine.definitions.deploy import deploy, deploy_forms
from app.engine.definitions.lookup import ManualStart, latest_definition, load_spec, manual_start
from app.engine.errors import DefinitionError
from app.services.setup import known_department_names
from tests.engine import (
    chain,
    definitions,
    diagram,
    flow,
    forms,
    instance,
    open_tasks,
    process,
    props,
    script_task,
    simple_process,
    user_task,
)


def _refused(deploy_sources, xml: str, file_name: str = "bad.bpmn") -> list:
    with pytest.raises(DefinitionError) as info:
        deploy_sources({file_name: xml})
    assert info.value.problems, "a refusal lists its problems"
    return info.value.problems


def test_valid_file_deploys_version_1(session, deploy_sources):
    result = deploy_sources(diagram("review.bpmn"))
    assert [(d.key, d.version) for d in result.created] == [("review", 1)]
    row = latest_definition(session, "review")
    assert row.version == 1
    assert row.source_name == "review.bpmn"
    assert set(row.forms) == {"note", "decision"}


def test_identical_content_deploys_nothing_new(session, deploy_sources):
    first = deploy_sources(diagram("review.bpmn"))
    again = deploy_sources(diagram("review.bpmn"))
    assert again.created == []
    assert [d.id for d in again.definitions] == [d.id for d in first.created]
    assert session.query(ProcessDefinition).filter_by(key="review").count() == 1


def test_changed_content_is_version_2_and_running_instance_stays_on_v1(session, runtime, actor, deploy_sources):
    v1 = deploy_sources(diagram("review.bpmn")).created[0]
    old = runtime.start(session, "review", {}, actor)
    session.commit()

    (name, xml), = diagram("review.bpmn").items()
    changed = xml.replace('name="审核"', 'name="复核"')
    assert changed != xml
    v2 = deploy_sources({name: changed}).created[0]
    assert (v2.key, v2.version) == ("review", 2)
    assert latest_definition(session, "review").id == v2.id

    # New starts use v2; the running instance keeps v1 and finishes on it.
    new = runtime.start(session, "review", {}, actor)
    session.commit()
    assert new.definition_id == v2.id
    assert instance(session, old.id).definition_id == v1.id

    runtime.complete_task(session, open_tasks(session, old.id)[0].id, {"note": "abc"}, actor)
    session.commit()
    decide = open_tasks(session, old.id)[0]
    assert decide.title == "审核"  # the v1 name, not the v2 one
    runtime.complete_task(session, decide.id, {"decision": "accept"}, actor)
    session.commit()
    old_row = instance(session, old.id)
    assert old_row.status == InstanceStatus.COMPLETED
    assert old_row.definition_id == v1.id

    runtime.complete_task(session, open_tasks(session, new.id)[0].id, {"note": "x"}, actor)
    session.commit()
    assert open_tasks(session, new.id)[0].title == "复核"


def test_changed_form_versions_the_process_too(session, deploy_sources):
    from tests.engine import forms

    deploy_sources(diagram("review.bpmn"))
    changed = forms()
    changed["note"]["fields"][0]["max_length"] = 100
    result = deploy_sources(diagram("review.bpmn"), changed)
    assert [(d.key, d.version) for d in result.created] == [("review", 2)]
    assert result.forms["note"].version == 2


def test_not_well_formed_xml_names_the_line(deploy_sources):
    xml = (
        '<?xml version="1.0"?>\n<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">\n'
        '\n<bpmn:process id="p">\n</bpmn:definitions>'
    )
    problems = _refused(deploy_sources, xml)
    assert problems[0].line == 5
    assert "not well-formed" in problems[0].text()
    assert problems[0].file_name == "bad.bpmn"


def test_schema_invalid_bpmn_is_refused_with_its_line(deploy_sources):
    body = '<bpmn:startEvent id="start" />\n<bpmn:frobnicate id="x" />\n<bpmn:endEvent id="end" />'
    body += chain("start", "end")
    xml = definitions(process("p", "\n" + body))
    problems = _refused(deploy_sources, xml)
    assert "frobnicate" in problems[0].text()
    assert problems[0].line == 3  # line 1: declaration and <process>, line 2: the start event


@pytest.mark.parametrize(
    ("body", "element", "expected"),
    [
        (user_task("t1", "任务", department="quality"), "t1", "no formKey"),
        (user_task("t1", "任务", formKey="nope", department="quality"), "t1", "form 'nope' does not exist"),
        (user_task("t1", "任务", formKey="note", department="sales"), "t1", "unknown department 'sales'"),
        (user_task("t1", "任务", formKey="note"), "t1", "no lane and names no department"),
        (user_task("t1", "任务", formKey="note", department="=dept +"), "t1", "department expression"),
        (script_task("s1", "x = __import__('os')"), "s1", "__import__"),
        (script_task("s1", "x = ().__class__"), "s1", "__class__"),
        (script_task("s1", "x = ((("), "s1", "script"),
        (user_task("t1", "任务", formKey="note", department="quality", performer="head,boss"), "t1",
         "unknown performer 'boss'"),
        (user_task("t1", "任务", formKey="note", department="quality", approval="sign_ceo", submittedBy="t1"), "t1",
         "unknown approval kind 'sign_ceo'"),
        (user_task("t1", "任务", formKey="note", department="quality", approval="eight_d"), "t1",
         "an approval task needs submittedBy"),
        (user_task("t1", "任务", formKey="note", department="quality", submittedBy="ghost"), "t1",
         "submittedBy names 'ghost', which is not a user task"),
        (user_task("t1", "任务", formKey="note", department="quality", customerClock="answered"), "t1",
         "customerClock must be one of answer, resolution, wait"),
        (user_task("t1", "任务", formKey="note", department="quality", customerClock="=x.__class__"), "t1",
         "customerClock expression"),
    ],
    ids=["no-formkey", "unknown-form", "unknown-department", "no-lane", "bad-expression", "import", "dunder", "syntax",
         "unknown-performer", "unknown-approval", "approval-without-four-eyes", "four-eyes-of-nothing",
         "unknown-customer-clock", "customer-clock-expression"],
)
def test_broken_task_is_refused_naming_the_element(deploy_sources, body, element, expected):
    problems = _refused(deploy_sources, definitions(simple_process("p", body, [element])))
    assert [p.element_id for p in problems] == [element]
    assert expected in problems[0].text()


def test_unknown_lane_is_refused(deploy_sources):
    xml = definitions(
        simple_process("p", user_task("t1", "任务", formKey="note"), ["t1"], lanes={"Sales": ["start", "t1", "end"]})
    )
    problems = _refused(deploy_sources, xml)
    assert (problems[0].element_id, problems[0].text()) == ("t1", "lane 'Sales' is not a known department")


def test_lane_may_name_a_department_in_chinese(deploy_sources):
    xml = definitions(
        simple_process("p", user_task("t1", "任务", formKey="note"), ["t1"], lanes={"质量部": ["start", "t1", "end"]})
    )
    assert [d.key for d in deploy_sources({"ok.bpmn": xml}).created] == ["p"]


def test_gateway_condition_with_syntax_error_is_refused(deploy_sources):
    body = (
        '<bpmn:startEvent id="start" /><bpmn:exclusiveGateway id="gw" default="f_b" />'
        '<bpmn:endEvent id="end_a" /><bpmn:endEvent id="end_b" />'
        + chain("start", "gw") + flow("f_a", "gw", "end_a", "amount >") + flow("f_b", "gw", "end_b")
    )
    problems = _refused(deploy_sources, definitions(process("p", body)))
    assert problems[0].element_id == "gw"
    assert "condition" in problems[0].text() and "end_a" in problems[0].text()


def test_timer_expression_escape_is_refused(deploy_sources):
    body = (
        '<bpmn:intermediateCatchEvent id="wait"><bpmn:timerEventDefinition id="td">'
        '<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">().__class__</bpmn:timeDuration>'
        "</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>"
    )
    problems = _refused(deploy_sources, definitions(simple_process("p", body, ["wait"])))
    assert problems[0].element_id == "wait"
    assert "timer expression" in problems[0].text()


def test_call_activity_to_undeployed_process_is_refused(deploy_sources):
    body = '<bpmn:callActivity id="call" name="调用" calledElement="ghost" />'
    problems = _refused(deploy_sources, definitions(simple_process("p", body, ["call"])))
    assert any(p.element_id == "ghost" and "nor deployed" in p.text() for p in problems)


def test_every_problem_is_listed_and_nothing_is_stored(session, deploy_sources):
    body = user_task("t1", "任务", department="quality") + script_task("s1", "x = open('f').__dict__")
    problems = _refused(deploy_sources, definitions(simple_process("p", body, ["t1", "s1"])))
    assert {p.element_id for p in problems} == {"t1", "s1"}
    session.rollback()
    assert latest_definition(session, "p") is None


def test_file_without_executable_process_is_refused(deploy_sources):
    xml = definitions(process("p", '<bpmn:startEvent id="start" />'))
    xml = xml.replace('isExecutable="true"', 'isExecutable="false"')
    problems = _refused(deploy_sources, xml)
    assert "executable" in problems[0].text()


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        ({"key": "f", "title": "F", "fields": [{"name": "a", "type": "wat", "label": "A"}]}, "unknown type 'wat'"),
        (
            {"key": "f", "title": "F", "fields": [
                {"name": "a", "type": "text", "label": "A"}, {"name": "a", "type": "text", "label": "A"}]},
            "duplicate field name 'a'",
        ),
        ({"key": "f", "title": "F", "fields": []}, "non-empty list"),
        ({"key": "f", "title": "F", "fields": [{"name": "c", "type": "select", "label": "C"}]}, "choices"),
        ({"key": "other", "title": "F", "fields": [{"name": "a", "type": "text", "label": "A"}]}, "does not match"),
    ],
    ids=["bad-type", "duplicate-name", "no-fields", "select-without-choices", "key-mismatch"],
)
def test_broken_form_definition_is_refused(session, form, expected):
    with pytest.raises(DefinitionError) as info:
        deploy_forms(session, {"f": form})
    assert info.value.problems[0].element_id == "f"
    assert expected in info.value.problems[0].text()


def test_broken_form_refuses_the_whole_upload(session, deploy_sources):
    from tests.engine import forms

    broken = forms()
    broken["note"]["fields"][0]["type"] = "wat"
    with pytest.raises(DefinitionError):
        deploy_sources(diagram("review.bpmn"), broken)
    session.rollback()
    assert latest_definition(session, "review") is None


def test_embedded_subprocess_deploys_and_runs(session, runtime, actor, deploy_sources):
    sub = (
        '<bpmn:subProcess id="sub" name="子过程"><bpmn:startEvent id="s_start" />'
        + user_task("inner", "内部任务", formKey="note", department="quality")
        + '<bpmn:endEvent id="s_end" />' + chain("s_start", "inner", "s_end", prefix="s") + "</bpmn:subProcess>"
    )
    deploy_sources({"sub.bpmn": definitions(simple_process("with_sub", sub, ["sub"]))})
    started = runtime.start(session, "with_sub", {}, actor)
    session.commit()
    (task,) = open_tasks(session, started.id)
    assert task.element_id == "inner"
    runtime.complete_task(session, task.id, {"note": "done"}, actor)
    session.commit()
    assert instance(session, started.id).status == InstanceStatus.COMPLETED


def _started(start_props: dict[str, str], start_inner: str = "", pre: str = "") -> str:
    """A one-task process whose start event carries ``start_props``."""
    start = f'<bpmn:startEvent id="start">{props(**start_props) if start_props else ""}{start_inner}</bpmn:startEvent>'
    body = start + user_task("t1", "任务", formKey="note", department="quality") + '<bpmn:endEvent id="end" />'
    return pre + process("p", body + chain("start", "t1", "end"))


@pytest.mark.parametrize(
    ("start_props", "expected"),
    [
        ({"manualStart": "head:quality,boss"}, "unknown manualStart 'boss'"),
        ({"manualStart": "head:sales"}, "manualStart names the unknown department 'sales'"),
        ({"manualStart": "head:"}, "manualStart 'head:' names no department"),
        ({"manualStart": " , "}, "manualStart is empty"),
        ({"manualStart": "admin", "startForm": "nope"}, "form 'nope' does not exist"),
        ({"manualStart": "admin", "startForm": "upload"}, "start form 'upload' has file fields"),
        ({"startForm": "note"}, "startForm needs manualStart"),
    ],
    ids=["unknown-role", "unknown-department", "no-department", "empty", "unknown-form", "file-form", "form-only"],
)
def test_broken_manual_start_is_refused_naming_the_start_event(session, start_props, expected):
    upload = {"key": "upload", "title": "上传", "fields": [{"name": "photo", "type": "file", "label": "照片"}]}
    with pytest.raises(DefinitionError) as info:
        deploy(session, {"p.bpmn": definitions(_started(start_props))}, {**forms(), "upload": upload},
               known_departments=known_department_names(session))
    assert [(p.element_id, expected in p.text()) for p in info.value.problems] == [("start", True)], \
        info.value.problems


def test_manual_start_belongs_on_a_plain_start_event(deploy_sources):
    on_task = definitions(simple_process("p", user_task("t1", "任务", formKey="note", department="quality",
                                                       manualStart="admin"), ["t1"]))
    assert [p.message for p in _refused(deploy_sources, on_task)] == [
        "manualStart and startForm belong on a start event"]
    by_message = definitions(_started(
        {"manualStart": "admin"},
        '<bpmn:messageEventDefinition id="Def_start" messageRef="Message_go" />',
        pre='<bpmn:message id="Message_go" name="go" />'))
    assert "a process started by a message cannot be started by hand" in _refused(deploy_sources, by_message)[0].message


def test_a_manual_start_deploys_its_start_form_with_the_process(session, deploy_sources):
    xml = definitions(_started({"manualStart": "head:质量部,admin", "startForm": "note"}))
    result = deploy_sources({"p.bpmn": xml})
    [definition] = result.created
    assert set(definition.forms) == {"note"}
    assert manual_start(load_spec(session, definition).spec) == ManualStart(("head:质量部", "admin"), "note")
