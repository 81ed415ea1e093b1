"""What this application cannot execute, found in the XML of an executable process before the
library builds it: each construct is refused at deploy naming its element and saying what to
use instead (the library would either fail with a programmer's message or deploy something
that fails or does nothing at run time). Camunda attributes that have an equivalent here
(``camunda:formKey``, ``camunda:assignee``, ``camunda:candidateGroups``) give hints instead."""

from __future__ import annotations

from typing import Any

from app.engine.errors import Problem
from app.engine.explain import DMN_TASK, MULTI_INSTANCE_INCOMPLETE, SERVICE_TASK
from app.engine.links import link_events
from app.i18n import N_

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
PYTHON_FORMATS = {"", "python", "python3", "py", "text/python", "text/x-python", "application/x-python"}
JAVA_ATTRIBUTES = ("class", "delegateExpression", "expression", "type", "topic")

NO_FORM_KEY = N_("user task has no formKey property")
NO_DEPARTMENT = N_("user task is in no lane and names no department")
CAMUNDA_FORM = N_("The form is given as camunda:formKey \"%(value)s\"; this application reads the formKey "
                  "property (a form of the designer's form list): open the diagram in the modeler, which offers "
                  "to convert it.")
CAMUNDA_GROUP = N_("The department is given as camunda:candidateGroups \"%(value)s\"; this application reads the "
                   "lane or the department property: open the diagram in the modeler, which offers to convert it.")
JAVA_CODE = N_("This element runs Java code or an external worker (%(attributes)s), which is not available in this "
               "application: use a script task, or a user task for the department that does the work.")
COMPLEX_GATEWAY = N_("Complex gateways are not available in this application: use an inclusive or exclusive gateway "
                     "with conditions.")
SCRIPT_RESOURCE = N_("The script is in an external resource (%(resource)s): scripts must be written inside the "
                     "diagram, in Python.")
SCRIPT_FORMAT = N_("Only Python scripts run in this application, and this script is %(format)s: rewrite it in "
                   "Python.")
SEND_NO_MESSAGE = N_("The send task names no message: choose the message it sends, or use a script task.")
RECEIVE_NO_MESSAGE = N_("The receive task names no message: choose the message it waits for.")
COMPENSATION = N_("Compensation is not available in this application: model the undoing steps explicitly, e.g. after "
                  "an error boundary event.")
DATA_STORE = N_("Data stores are not available in this application (here: %(name)s): keep the data in the process "
                "data (form fields or data objects).")
#: A hint replaces the generic rule problem of the same element.
SUPERSEDES = {CAMUNDA_FORM: NO_FORM_KEY, CAMUNDA_GROUP: NO_DEPARTMENT}


def _local(element: Any) -> str:
    tag = element.tag if isinstance(element.tag, str) else ""
    return tag.rsplit("}", 1)[-1] if tag.startswith(f"{{{BPMN_NS}}}") else ""


def _problem(element: Any, file_name: str, message: str, **params: Any) -> Problem:
    return Problem(message, element_id=element.get("id", ""), element_name=(element.get("name") or "").strip(),
                   file_name=file_name, line=element.sourceline, params=params)


def _spiff_property(element: Any, name: str) -> str:
    for prop in element.iter(f"{{{SPIFF_NS}}}property"):
        if prop.get("name") == name:
            return prop.get("value") or ""
    return ""


def unsupported(process: Any, file_name: str, known_departments: set[str] | None = None) -> list[Problem]:
    """Constructs of the executable process element ``process`` this application cannot run."""
    problems: list[Problem] = []
    for element in process.iter():
        tag = _local(element)
        if not tag:
            if element.tag in (f"{{{CAMUNDA_NS}}}executionListener", f"{{{CAMUNDA_NS}}}taskListener"):
                owner = element.getparent().getparent() if element.getparent() is not None else None
                problems.append(_problem(owner if owner is not None else process, file_name, N_(
                    "Camunda listeners (%(kind)s) do not run in this application: model that step as a script "
                    "task."), kind=element.tag.rsplit("}", 1)[-1]))
            continue
        problems += _check(element, tag, file_name, known_departments)
    for links in link_events(process).values():
        for throw in [t for throws, catches in links.values() if not catches for t in throws]:
            name = next(iter(throw.iter(f"{{{BPMN_NS}}}linkEventDefinition"))).get("name", "")
            problems.append(_problem(throw, file_name, N_(
                "No catching link event named \"%(name)s\" in the same process: add one, or give this link the "
                "name of an existing one."), name=name))
    return problems


def _check(element: Any, tag: str, file_name: str, known: set[str] | None) -> list[Problem]:
    found: list[Problem] = []

    def refuse(message: str, **params: Any) -> None:
        found.append(_problem(element, file_name, message, **params))

    java = [f"camunda:{a}" for a in JAVA_ATTRIBUTES if element.get(f"{{{CAMUNDA_NS}}}{a}")]
    if tag == "serviceTask":
        refuse(SERVICE_TASK)
    elif tag == "businessRuleTask":
        refuse(DMN_TASK)
    elif java and tag in ("sendTask", "receiveTask", "scriptTask", "userTask", "manualTask", "task"):
        refuse(JAVA_CODE, attributes=", ".join(java))
    elif tag == "complexGateway":
        refuse(COMPLEX_GATEWAY)
    elif tag == "scriptTask":
        found += _script_problems(element, file_name)
    elif tag in ("sendTask", "receiveTask") and not element.get("messageRef") and \
            element.find(f"{{{BPMN_NS}}}messageEventDefinition") is None:
        refuse(SEND_NO_MESSAGE if tag == "sendTask" else RECEIVE_NO_MESSAGE)
    elif tag == "compensateEventDefinition" or element.get("isForCompensation") == "true":
        owner = element.getparent() if tag == "compensateEventDefinition" else element
        found.append(_problem(owner, file_name, COMPENSATION))
    elif tag == "dataStoreReference":
        refuse(DATA_STORE, name=element.get("name") or element.get("id", ""))
    elif tag == "multiInstanceLoopCharacteristics":
        found += _multi_instance_problems(element, file_name)
    elif tag == "boundaryEvent" and not any(_local(child).endswith("EventDefinition") for child in element):
        refuse(N_("This boundary event has no trigger: choose a timer, message, signal, error, escalation or "
                  "conditional event."))
    elif tag == "timerEventDefinition" and not any(_local(c) in ("timeDate", "timeDuration", "timeCycle")
                                                     for c in element):
        found.append(_problem(element.getparent(), file_name, N_(
            "The timer has no type or no value: choose a date, a duration or a cycle and give its value.")))
    elif tag == "userTask":
        found += _camunda_hints(element, file_name, known)
    return found


def _script_problems(element: Any, file_name: str) -> list[Problem]:
    """A script task runs Python written in the diagram, not an external resource."""
    script_format = (element.get("scriptFormat") or "").strip()
    resource = element.get(f"{{{CAMUNDA_NS}}}resource")
    if resource:
        return [_problem(element, file_name, SCRIPT_RESOURCE, resource=resource)]
    if script_format.lower() not in PYTHON_FORMATS:
        return [_problem(element, file_name, SCRIPT_FORMAT, format=script_format)]
    return []


def _multi_instance_problems(element: Any, file_name: str) -> list[Problem]:
    """A multi-instance activity says how many instances: a cardinality or an input collection."""
    owner = element.getparent()
    collection = element.get(f"{{{CAMUNDA_NS}}}collection")
    has_input = element.find(f"{{{BPMN_NS}}}loopCardinality") is not None or \
        element.find(f"{{{BPMN_NS}}}loopDataInputRef") is not None
    if has_input:
        return []
    if collection:
        return [_problem(owner, file_name, N_(
            "The multi-instance collection is given as camunda:collection \"%(value)s\": set it as the input "
            "collection in the properties panel."), value=collection)]
    return [_problem(owner, file_name, MULTI_INSTANCE_INCOMPLETE)]


def _camunda_hints(element: Any, file_name: str, known: set[str] | None) -> list[Problem]:
    hints: list[Problem] = []
    form = element.get(f"{{{CAMUNDA_NS}}}formKey") or element.get(f"{{{CAMUNDA_NS}}}formRef")
    if form and not _spiff_property(element, "formKey"):
        hints.append(_problem(element, file_name, CAMUNDA_FORM, value=form))
    groups = element.get(f"{{{CAMUNDA_NS}}}candidateGroups") or ""
    named = [g.strip() for g in groups.split(",") if g.strip() and (known is None or g.strip().lower() in known)]
    if named and not _spiff_property(element, "department"):
        hints.append(_problem(element, file_name, CAMUNDA_GROUP, value=named[0]))
    return hints


def merge(hints_and_refusals: list[Problem], others: list[Problem]) -> list[Problem]:
    """The scan's problems, then the others except those a hint replaces or the scan already
    explains (a library error about an element the scan refused)."""
    refused = {p.element_id for p in hints_and_refusals if p.message not in SUPERSEDES and p.element_id}
    superseded = {(p.element_id, SUPERSEDES[p.message]) for p in hints_and_refusals if p.message in SUPERSEDES}
    kept = [p for p in others if (p.element_id, p.message) not in superseded and p.element_id not in refused]
    return [*hints_and_refusals, *kept]
