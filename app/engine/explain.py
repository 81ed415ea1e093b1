"""Errors of the BPMN library and of the BPMN 2.0 schema in plain words.

SpiffWorkflow's parser and lxml's schema validator speak to programmers ("A Service Task must
have an operator", "not a valid value of the atomic type 'xs:ID'", reprs of XML nodes). Each
known message becomes one of our catalogue messages (marked with ``N_``, translated where it
is shown) that names the element and says what to do; an unknown one keeps its text with
reprs, namespaces and memory addresses removed.
"""

from __future__ import annotations

import re
from typing import Any

from lxml import etree

from app.engine.errors import Problem
from app.i18n import N_

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
PREFIXES = {
    BPMN_NS: "bpmn",
    "http://www.omg.org/spec/BPMN/20100524/DI": "bpmndi",
    "http://www.omg.org/spec/DD/20100524/DC": "dc",
    "http://www.omg.org/spec/DD/20100524/DI": "di",
}

SERVICE_TASK = N_("Service tasks are not available in this application: use a user task for the department "
                  "that does the work, or a script task.")
DMN_TASK = N_("Decision tables (DMN business rule tasks) are not available in this application: use an exclusive "
              "gateway with conditions, or a script task that sets the result.")
MULTI_INSTANCE_INCOMPLETE = N_("The multi-instance settings are incomplete: give the number of instances "
                               "(loop cardinality) or the collection to go through (input collection).")
EMPTY_SUBPROCESS = N_("The subprocess has no start event (it may be collapsed without content): model its steps "
                      "inside it, or use a call activity that calls a deployed process.")

#: (pattern of the library's message, our message); named groups become message parameters.
LIBRARY_MESSAGES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(p, re.S), m) for p, m in [
        (r"A Service Task must have an operator", SERVICE_TASK),
        (r"No DMN Diagram available", DMN_TASK),
        (r"Non-default exclusive outgoing sequence flow without condition",
         N_("This outgoing flow of an exclusive gateway has no condition and is not the gateway's default flow: "
            "add a condition, or make it the default flow.")),
        (r"Multiple outgoing flows are not supported for tasks of type",
         N_("This element has several outgoing flows: put a gateway after it to split the flow.")),
        (r"No start event found", N_("The process has no start event: add one.")),
        (r"Exactly one start event is required in a SubWorkflow Task; found 0", EMPTY_SUBPROCESS),
        (r"Exactly one start event is required in a SubWorkflow Task; found (?P<count>\d+)",
         N_("The subprocess has %(count)s start events; it needs exactly one.")),
        (r"A SubWorkflow Must contain an End event", N_("The subprocess has no end event: add one.")),
        (r"Time Specification Error", N_("The timer has no type or no value: choose a date, a duration or a cycle "
                                         "and give its value.")),
        (r"multiinstance task must specify a cardinality or a", MULTI_INSTANCE_INCOMPLETE),
        (r"multiinstance task must specify exactly one of",
         N_("The multi-instance settings give both a number of instances and a collection: keep only one.")),
        (r"Data Store with name (?P<name>.*?) has no implementation",
         N_("Data stores are not available in this application (here: %(name)s): keep the data in the process "
            "data (form fields or data objects).")),
        (r"Cannot resolve data(Input|Output)Association",
         N_("A data association of this task refers to something the process does not define: remove the "
            "association, or define the data object it refers to.")),
        (r"There is no support implemented for this task type",
         N_("This kind of element is not available in this application.")),
        (r"No \"calledElement\" attribute", N_("The call activity names no process to call: choose the called "
                                                "process.")),
        (r"Unsupported Catch Event",
         N_("This boundary event has no trigger this application supports: use a timer, message, signal, error, "
            "escalation or conditional event.")),
        (r"No Script Provided", N_("The script task has no script.")),
        (r"Conditional event definition with missing condition", N_("The conditional event has no condition.")),
        (r"Duplicate process ID: (?P<id>\S+)", N_("Two processes have the id %(id)s: every process id must be "
                                                  "unique.")),
        (r"Process (?P<id>\S+) is not executable",
         N_("The called process %(id)s is not marked executable: tick Executable on it.")),
        (r"(?P<kind>Message|Signal|Error|Escalation|Correlation) identifier is missing",
         N_("The event refers to a %(kind)s that is not defined in this file: choose a defined one.")),
        (r"Could not find messageRef", N_("The event refers to a message that is not defined in this file: choose "
                                          "a defined one.")),
        (r"The process '(?P<id>[^']*)' was not found",
         N_("The called process '%(id)s' is neither in this file nor deployed.")),
        (r"Ad hoc subprocesses may not contain start or end events",
         N_("An ad hoc subprocess may not contain start or end events.")),
        (r"Sequential ordering for ad hoc subprocesses not supported",
         N_("Ad hoc subprocesses with sequential ordering are not available: use parallel ordering.")),
    ]
]

_REPR = re.compile(r"<Element \{[^}]*\}(\w+) at 0x[0-9a-f]+>|b?'<[^']{0,400}'|\bat 0x[0-9a-f]+")


def _tag(text: str) -> str:
    """``{namespace}tag`` as ``prefix:tag``."""
    return re.sub(r"\{([^}]*)\}(\w+)", lambda m: f"{PREFIXES.get(m.group(1), '')}:{m.group(2)}".lstrip(":"), text)


def clean(detail: str) -> str:
    """A library message without reprs, byte strings of XML, namespaces or memory addresses."""
    text = _REPR.sub(lambda m: m.group(1) or "", detail)
    text = _tag(text)
    return re.sub(r"\s+", " ", text).strip(" :,") or "?"


def library_problem(message: str, **where: Any) -> Problem:
    """A problem for a SpiffWorkflow error message, in our words when it is a known one."""
    for pattern, ours in LIBRARY_MESSAGES:
        match = pattern.search(message)
        if match:
            params = {k: clean(v) for k, v in match.groupdict().items() if v is not None}
            return Problem(ours, params=params, **where)
    return Problem(N_("The BPMN engine cannot use this element: %(detail)s"), params={"detail": clean(message)},
                   **where)


# ---------------------------------------------------------------------------- schema errors

_SCHEMA_ELEMENT = re.compile(r"Element '(?P<tag>[^']+)'(?:, attribute '(?P<attribute>[^']+)')?: (?P<rest>.*)", re.S)
_NCNAME = re.compile(r"^[A-Za-z_][\w.\-]*$")


def schema_problem(message: str, line: int | None, tree: Any, file_name: str) -> Problem:
    """A problem for an lxml schema-validation message: the element (found by its line) and plain words."""
    match = _SCHEMA_ELEMENT.match(message or "")
    element_id, element_name = _element_at(tree, line)
    where: dict[str, Any] = {"element_id": element_id, "element_name": element_name, "file_name": file_name,
                             "line": line}
    if not match:
        return Problem(N_("The file does not follow the BPMN 2.0 standard here: %(detail)s"),
                       params={"detail": clean(message)}, **where)
    tag, attribute, rest = _tag(match["tag"]), match["attribute"] or "", match["rest"]
    params: dict[str, Any] = {"tag": tag, "attribute": attribute}
    value = re.search(r"'([^']*)' is not a valid value", rest)
    if "is not allowed" in rest and attribute:
        text = N_("The element %(tag)s has the attribute %(attribute)s, which BPMN 2.0 does not define: remove it, "
                  "or export the file again as standard BPMN 2.0.")
    elif "is required but missing" in rest:
        params["attribute"] = (re.search(r"attribute '([^']+)'", rest) or [None, attribute])[1]
        text = N_("The element %(tag)s needs the attribute %(attribute)s, which is missing.")
    elif "This element is not expected" in rest:
        text = N_("The element %(tag)s is not allowed at this place by BPMN 2.0 (wrong order, or wrong parent "
                  "element).")
    elif "Missing child element" in rest:
        text = N_("The element %(tag)s is incomplete: an element BPMN 2.0 requires inside it is missing.")
    elif value and "xs:ID'" in rest:
        params["id"] = value.group(1)
        if _NCNAME.match(value.group(1)):
            text = N_("The id %(id)s is used by more than one element: every id must be unique.")
            where["element_id"] = value.group(1)
        else:
            text = N_("%(id)s is not a valid id: an id starts with a letter or _ and contains no spaces or special "
                      "characters.")
    elif value and ("xs:QName'" in rest or "xs:IDREF" in rest):
        params["value"] = value.group(1)
        text = N_("The reference %(value)s of the element %(tag)s does not name an element of this file.")
    elif value and "xs:boolean'" in rest:
        params["value"] = value.group(1)
        text = N_("The attribute %(attribute)s of the element %(tag)s must be true or false, not %(value)s.")
    elif "No match found for key-sequence" in rest:
        params["value"] = (re.search(r"\['([^']*)'\]", rest) or [None, "?"])[1]
        text = N_("The reference %(value)s of the element %(tag)s does not name an element of this file.")
    elif "Duplicate key-sequence" in rest:
        params["id"] = (re.search(r"\['([^']*)'\]", rest) or [None, "?"])[1]
        text = N_("The id %(id)s is used by more than one element: every id must be unique.")
    elif "Character content other than whitespace is not allowed" in rest:
        text = N_("The element %(tag)s contains text where BPMN 2.0 allows none.")
    elif value:
        params["value"] = value.group(1)
        text = N_("The value %(value)s of the element %(tag)s is not valid in BPMN 2.0.")
    else:
        params["detail"] = clean(rest)
        text = N_("The element %(tag)s does not follow the BPMN 2.0 standard: %(detail)s")
    return Problem(text, params=params, **where)


def _element_at(tree: Any, line: int | None) -> tuple[str, str]:
    """Id and name of the first element with an id that starts on ``line`` (or encloses it)."""
    if tree is None or not line:
        return "", ""
    best = None
    for element in tree.iter():
        if not isinstance(element.tag, str) or element.sourceline is None:
            continue
        if element.sourceline > line:
            break
        if element.get("id"):
            best = element
    if best is None or etree.QName(best).localname in {"definitions"}:
        return "", ""
    return best.get("id", ""), best.get("name", "") or ""
