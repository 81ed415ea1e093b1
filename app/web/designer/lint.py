"""The messages of the modeler's lint (bpmnlint's rules and the app's own, see assets/) in the
user's language: the app's rules say what deploy would say; bpmnlint's English messages are
mapped to translations (one not listed here is shown as bpmnlint says it)."""

from __future__ import annotations

from flask_babel import gettext as _

from app.engine.definitions import support
from app.engine.explain import DMN_TASK, SERVICE_TASK
from app.i18n import N_

BPMNLINT = [
    N_("Element is missing label/name"), N_("Element is missing name"), N_("Element is not connected"),
    N_("Element is an implicit end"), N_("Element is an implicit start"), N_("Flow splits implicitly"),
    N_("Incoming flows do not join"), N_("Gateway forks and joins"), N_("Sequence flow is missing condition"),
    N_("Element is missing bpmndi"), N_("Event has multiple event definitions"),
    N_("Link event is missing link name"), N_("Start event must be blank"),
    N_("Conditional event is missing a condition"), N_("Element overlaps with other element"),
    N_("Element is outside of parent boundary"), N_("Duplicate incoming sequence flows"),
    N_("Duplicate outgoing sequence flows"), N_("SequenceFlow is a duplicate"),
    N_("Start event is missing event definition"), N_("Termination is superfluous."),
    N_("Sequence flow has superfluous label"), N_("Gateway is superfluous. It only has one source and target."),
    N_("Element name is not unique"), N_("Element is unused"),
    N_("An <Event-based Gateway> must have at least 2 outgoing <Sequence Flows>"),
    N_("A <Sequence Flow> outgoing from an <Event-based Gateway> must not be conditional"),
]


def lint_messages() -> dict[str, str]:
    """Message key (bpmnlint's English text, or ``app:<rule>``) → text in the user's language;
    ``{}`` stands for the value the rule fills in."""
    messages = {message: _(message) for message in BPMNLINT}
    messages.update({
        "app:no-form": _(support.NO_FORM_KEY),
        "app:unknown-form": _("form '%(form)s' does not exist", form="{}"),
        "app:no-department": _(support.NO_DEPARTMENT),
        "app:unknown-department": _("unknown department '%(department)s'", department="{}"),
        "app:unknown-lane": _("lane '%(lane)s' is not a known department", lane="{}"),
        "app:service-task": _(SERVICE_TASK),
        "app:dmn": _(DMN_TASK),
        "app:complex-gateway": _(support.COMPLEX_GATEWAY),
        "app:data-store": _(support.DATA_STORE, name="{}"),
        "app:java": _(support.JAVA_CODE, attributes="{}"),
        "app:compensation": _(support.COMPENSATION),
        "app:script-resource": _(support.SCRIPT_RESOURCE, resource="?"),
        "app:script-format": _(support.SCRIPT_FORMAT, format="{}"),
        "app:send-task": _(support.SEND_NO_MESSAGE),
        "app:receive-task": _(support.RECEIVE_NO_MESSAGE),
    })
    return messages
