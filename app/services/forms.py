"""Form definitions at run time: which form a task shows, and validating submissions."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from app.data.models import FormDefinition, HumanTask
from app.engine.definitions.lookup import latest_form
from app.engine.errors import NotFound
from app.formkit.build import Validation, bind_data, data_keys, schema, validate
from app.formkit.definition import decision_fields
from app.i18n import N_
from app.services.choices import DatabaseChoices

#: the form of a task that names none: it only needs to be confirmed
NO_FORM: dict[str, Any] = {"key": "no_form", "fields": []}


def definition_for_task(session: Session, task: HumanTask) -> dict[str, Any]:
    """The form version the task's process was deployed with (else the latest of its key);
    :data:`NO_FORM` for a task that names no form."""
    if task.form_key is None and task.form_id is None:
        return NO_FORM
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


def prefill(definition: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """What a task's form starts with: its data, except the decision fields (an earlier
    round's decision is history, never this round's answer), with fields that name a
    ``prefill_from`` key started from that earlier value."""
    fresh = set(decision_fields(definition))
    start = {key: value for key, value in data.items() if key not in fresh} if fresh else dict(data)
    for spec in definition.get("fields") or []:  # data flows forward: nothing is typed twice
        source = spec.get("prefill_from")
        if source and start.get(spec["name"]) in (None, "", []) and start.get(source) not in (None, "", []):
            start[spec["name"]] = copy.deepcopy(start[source])
    return start


def definition_by_key(session: Session, key: str) -> dict[str, Any]:
    row = latest_form(session, key)
    if row is None:
        raise NotFound(N_("The form does not exist."))
    return row.content


def task_schema(session: Session, task: HumanTask, locale: str) -> dict[str, Any]:
    return schema(definition_for_task(session, task), locale, DatabaseChoices(session))


def validate_submission(session: Session, definition: dict[str, Any], payload: Any, locale: str) -> Validation:
    """Validate JSON ``payload`` with the form (field rules, file rules and structure)."""
    return validate(definition, locale, DatabaseChoices(session), data=payload)
