"""Form definitions at run time: which form a task shows, and validating submissions."""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from collections.abc import Callable, Collection
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.data.models import FormDefinition, HumanTask
from app.data.transaction_memo import transaction_key
from app.engine.definitions.lookup import latest_form
from app.engine.errors import NotFound
from app.formkit.build import Validation, bind_data, data_keys, schema, validate
from app.formkit.definition import decision_fields
from app.i18n import N_
from app.services.choices import DatabaseChoices

#: the form of a task that names none: it only needs to be confirmed
NO_FORM: dict[str, Any] = {"key": "no_form", "fields": []}


#: ``Session.info`` keys: form contents by id read in the current transaction, and the content
#: hashes of form ids a query already brought along (see :func:`remember_hash`)
CONTENT_KEY = transaction_key("forms.content")
HASH_KEY = transaction_key("forms.hash")
#: immutable form versions by (id, content hash), shared by the requests of this process; the
#: hash is part of the key because an id alone is not (an emptied table hands ids out again)
_VERSIONS: OrderedDict[tuple[int, str], dict[str, Any]] = OrderedDict()
_VERSIONS_MAX = 512
_versions_lock = threading.Lock()


def remember_hash(session: Session, form_id: int | None, content_hash: str | None) -> None:
    """Note the content hash of form ``form_id`` that a query of this transaction read with
    something else (e.g. the task being completed), so :func:`definition_for_task` can take
    the form from the process's cache of immutable versions without a statement."""
    if form_id is not None and content_hash:
        session.info.setdefault(HASH_KEY, {})[form_id] = content_hash


def read_hashes(session: Session, form_ids: Collection[int | None]) -> None:
    """Read the content hashes of the forms ``form_ids`` in one statement (those not known yet in
    this transaction), so that :func:`definition_for_task` takes each from the process's cache
    without a statement of its own (a case page shows the forms of all its tasks)."""
    known = session.info.setdefault(HASH_KEY, {})
    wanted = sorted({form_id for form_id in form_ids if form_id is not None and form_id not in known})
    if wanted:
        for form_id, content_hash in session.execute(
                select(FormDefinition.id, FormDefinition.content_hash).where(FormDefinition.id.in_(wanted))):
            remember_hash(session, form_id, content_hash)


def _cached(key: tuple[int, str]) -> dict[str, Any] | None:
    with _versions_lock:
        found = _VERSIONS.get(key)
        if found is not None:
            _VERSIONS.move_to_end(key)
        return found


def _cache(key: tuple[int, str], content: dict[str, Any]) -> None:
    with _versions_lock:
        _VERSIONS[key] = content
        while len(_VERSIONS) > _VERSIONS_MAX:
            _VERSIONS.popitem(last=False)


def form_version(session: Session, form_id: int) -> dict[str, Any] | None:
    """The content of form version ``form_id``: read once per transaction, and not at all when
    its content hash is known and this process has seen that version (versions never change)."""
    known: dict[int, dict[str, Any]] = session.info.setdefault(CONTENT_KEY, {})
    if form_id in known:
        return known[form_id]
    content_hash = session.info.get(HASH_KEY, {}).get(form_id)
    content = _cached((form_id, content_hash)) if content_hash else None
    if content is None:
        row = session.execute(select(FormDefinition.content, FormDefinition.content_hash)
                              .where(FormDefinition.id == form_id)).first()
        if row is None:
            return None
        content = row.content
        _cache((form_id, row.content_hash), content)
    known[form_id] = content
    return content


def definition_for_task(session: Session, task: HumanTask) -> dict[str, Any]:
    """The form version the task's process was deployed with (else the latest of its key);
    :data:`NO_FORM` for a task that names no form."""
    if task.form_key is None and task.form_id is None:
        return NO_FORM
    content = form_version(session, task.form_id) if task.form_id else None
    if content is not None:
        return content
    row = latest_form(session, task.form_key) if task.form_key else None
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
