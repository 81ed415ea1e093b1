"""Manual tasks and plain (untyped) tasks are human work like user tasks: they need a department
(lane or ``department`` property) like any user task, and when they name no form with
``formKey`` they get the built-in confirm-only form — the person doing the work confirms it is
done, with an optional remark. The form is stored as an ordinary form version the first time a
diagram uses it, so designers may change it in the forms editor like any other."""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.specs.mixins.user_task import UserTask

from app.engine.definitions.lookup import task_properties

CONFIRM_FORM_KEY = "confirm_done"
CONFIRM_FORM: dict[str, Any] = {
    "key": CONFIRM_FORM_KEY,
    "title": {"zh": "确认完成", "en": "Confirm done"},
    "fields": [
        {"name": "confirm_remark", "type": "textarea", "required": False,
         "label": {"zh": "备注(可选)", "en": "Remark (optional)"}},
    ],
}


def is_confirm_task(task_spec: Any) -> bool:
    """A manual or plain task: human work that is not a user task."""
    return bool(getattr(task_spec, "manual", False)) and not isinstance(task_spec, UserTask)


def form_key_of(task_spec: Any) -> str | None:
    """The form of a human task: its formKey property, else the confirm form for manual and plain tasks."""
    key = task_properties(task_spec).get("formKey")
    if key:
        return key
    return CONFIRM_FORM_KEY if is_confirm_task(task_spec) else None
