"""Form definitions at run time: which form a task shows, and validating submissions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from app.data.models import FormDefinition, HumanTask
from app.engine.definitions import latest_form
from app.engine.errors import NotFound
from app.formkit.build import Validation, bind_data, data_keys, schema, validate_data
from app.i18n import N_
from app.services.choices import DatabaseChoices


def definition_for_task(session: Session, task: HumanTask) -> dict[str, Any]:
    """The form version the task's process was deployed with (else the latest of its key)."""
    row = session.get(FormDefinition, task.form_id) if task.form_id else None
    if row is None and task.form_key:
        row = latest_form(session, task.form_key)
    if row is None:
        raise NotFound(N_("The form of this task does not exist."))
    return row.content


def with_task_data(definition: dict[str, Any], task_data: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The task's form with its data-dependent rules (``sum_equals``) bound to the task's data,
    which is loaded only when the form has such a rule."""
    return bind_data(definition, task_data()) if data_keys(definition) else definition


def definition_by_key(session: Session, key: str) -> dict[str, Any]:
    row = latest_form(session, key)
    if row is None:
        raise NotFound(N_("The form does not exist."))
    return row.content


def task_schema(session: Session, task: HumanTask, locale: str) -> dict[str, Any]:
    return schema(definition_for_task(session, task), locale, DatabaseChoices(session))


def validate_submission(session: Session, definition: dict[str, Any], payload: Any, locale: str) -> Validation:
    if not isinstance(payload, dict):
        return Validation({}, {"data": [N_("The data must be a JSON object.")]})
    validation = validate_data(definition, payload, locale, DatabaseChoices(session))
    wrong = structure_errors(definition, payload)
    if wrong:
        return Validation({}, {**validation.errors, **wrong})
    return validation


LIST_TYPES = {"multiselect", "files", "group"}


def structure_errors(definition: dict[str, Any], payload: dict[str, Any]) -> dict[str, list[str]]:
    """Objects or lists where a field takes a single value, and group rows that are not objects
    (the form layer would otherwise read them as text)."""
    errors: dict[str, list[str]] = {}

    def check(specs: list[dict[str, Any]], values: dict[str, Any], prefix: str) -> None:
        for spec in specs:
            value = values.get(spec["name"])
            name = prefix + spec["name"]
            if spec["type"] == "group":
                if value is None:
                    continue
                if not isinstance(value, list) or not all(isinstance(row, dict) for row in value):
                    errors[name] = [N_("A list of objects is expected here.")]
                    continue
                for index, row in enumerate(value):
                    check(spec["fields"], row, f"{name}[{index}].")
            elif spec["type"] not in LIST_TYPES and isinstance(value, dict | list):
                errors[name] = [N_("A single value is expected here.")]
            elif spec["type"] == "multiselect" and isinstance(value, list) and any(
                isinstance(item, dict | list) for item in value
            ):
                errors[name] = [N_("A list of values is expected here.")]

    check(definition["fields"], payload, "")
    return errors
