"""The case search document: what full-text search finds a case by.

One function, :func:`search_document`, says what is searched: the case columns named in
:data:`SEARCHED_COLUMNS` and the free text (text and textarea fields, in repeating groups too)
of every completed task of the case — the departments' 8D measures, analyses, findings and
replies. The texts are projected when a task is completed (a runtime hook: the workflow is
already loaded then) and kept per task in ``case_search.texts``, so search never reads a
workflow. Cases indexed before this existed, or before a column was added to
:data:`SEARCHED_COLUMNS`, are (re)indexed by ``flask migrate`` (:func:`backfill`) from the
audit trail's completed-task data.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.data.models import AppSetting, AuditEvent, Case, CaseSearch, HumanTask, ProcessInstance, TaskState
from app.data.queries.search import short_terms
from app.engine.context import RunContext
from app.engine.projection import read_with_case, task_data_change
from app.errors import AppError
from app.services.forms import definition_for_task

#: Case columns the search document holds; a name the model does not have (yet) is skipped, so
#: adding a column to the search is one line here (``flask migrate`` then reindexes every case).
SEARCHED_COLUMNS = (
    "number", "customer_name", "customer_contact", "customer_email", "product_model", "serial_numbers",
    "batch_no", "description",
)
TEXT_TYPES = ("text", "textarea")
#: the setting that remembers which columns the stored documents were built with
FIELDS_SETTING = "case_search.columns"
BATCH = 500

read_with_case(CaseSearch)  # the hook's session.get(CaseSearch) then finds the row read with the case


def search_document(case: Case, texts: dict[str, str]) -> str:
    """The text a case is found by: its searched columns, then each completed task's text."""
    parts = [str(value) for name in SEARCHED_COLUMNS if (value := getattr(case, name, None))]
    parts += [text for _task, text in sorted(texts.items()) if text]
    return "\n".join(parts)


def _strings(fields: Iterable[dict[str, Any]], data: dict[str, Any]) -> Iterable[str]:
    for spec in fields:
        value = data.get(spec.get("name", ""))
        if spec.get("type") == "group" and isinstance(value, list):
            for row in value:
                if isinstance(row, dict):
                    yield from _strings(spec.get("fields") or [], row)
        elif spec.get("type") in TEXT_TYPES and isinstance(value, str) and value.strip():
            yield value.strip()


def task_text(definition: dict[str, Any], data: dict[str, Any]) -> str:
    """The free text a completed task's form recorded (its text and textarea fields)."""
    return "\n".join(_strings(definition.get("fields") or [], data or {}))


def refresh(session: Session, case: Case, texts: dict[str, str] | None = None) -> CaseSearch:
    """Bring the case's search document up to date, adding or replacing ``texts`` (task id →
    text); written only when it changed."""
    row = session.get(CaseSearch, case.id)
    if row is None:
        row = CaseSearch(case_id=case.id, texts={}, document="", short_terms="")
        session.add(row)
    if texts:
        row.texts = {**(row.texts or {}), **texts}
    _set_document(row, search_document(case, row.texts or {}))
    return row


def _set_document(row: CaseSearch, document: str, rebuild: bool = False) -> None:
    """Set the document and its two-character terms (recomputed when it changed, or to rebuild)."""
    changed = document != row.document
    if changed:
        row.document = document
    if changed or rebuild:
        terms = short_terms(document)
        if terms != row.short_terms:
            row.short_terms = terms


def search_hook(session: Session, instance: ProcessInstance, workflow: Any, ctx: RunContext) -> None:
    """Runtime hook: after every save of a case's process, project the just-completed tasks'
    text into the case's search document (and pick up changed case columns)."""
    if instance.case_id is None:
        return
    case = session.get(Case, instance.case_id)
    if case is None:
        return
    texts = {}
    for row in ctx.closed:
        if row.state != TaskState.COMPLETED:
            continue
        change = task_data_change(workflow, row.id)
        try:
            definition = definition_for_task(session, row)
        except AppError:
            continue
        if change is not None and (text := task_text(definition, change[1])):
            texts[row.id] = text
    refresh(session, case, texts)


def _columns_signature() -> list[str]:
    return [name for name in SEARCHED_COLUMNS if hasattr(Case, name)]


def _completed_texts(session: Session, case_ids: list[int],
                     forms: dict[int, dict[str, Any]]) -> dict[int, dict[str, str]]:
    """Each case's completed-task texts, read from the audit trail (the data each completion
    submitted) and the form of its task."""
    events = session.execute(
        select(AuditEvent.case_id, AuditEvent.task_id, AuditEvent.data_after)
        .where(AuditEvent.case_id.in_(case_ids), AuditEvent.action == "task_completed", AuditEvent.task_id.is_not(None))
        .order_by(AuditEvent.id)
    ).all()
    tasks = {task.id: task for task in session.scalars(
        select(HumanTask).where(HumanTask.id.in_({event.task_id for event in events})))}
    result: dict[int, dict[str, str]] = {case_id: {} for case_id in case_ids}
    for event in events:
        task = tasks.get(event.task_id)
        if task is None or event.case_id is None:
            continue
        key = task.form_id or 0
        if key not in forms:
            try:
                forms[key] = definition_for_task(session, task)
            except AppError:
                forms[key] = {}
        if text := task_text(forms[key], event.data_after or {}):
            result[event.case_id][task.id] = text
    return result


def backfill(session: Session, everything: bool = False) -> int:
    """Index the cases that have no search document — every case when ``everything`` or when
    :data:`SEARCHED_COLUMNS` changed since the documents were built; returns how many."""
    setting = session.get(AppSetting, FIELDS_SETTING)
    signature = _columns_signature()
    everything = everything or (setting is not None and setting.value != signature)
    stmt = select(Case.id).order_by(Case.id)
    if not everything:
        stmt = stmt.where(Case.id.not_in(select(CaseSearch.case_id)))
    case_ids = list(session.scalars(stmt))
    forms: dict[int, dict[str, Any]] = {}
    for start in range(0, len(case_ids), BATCH):
        chunk = case_ids[start:start + BATCH]
        texts = _completed_texts(session, chunk, forms)
        for case in session.scalars(select(Case).where(Case.id.in_(chunk))):
            row = refresh(session, case)
            row.texts = texts.get(case.id, {})
            _set_document(row, search_document(case, row.texts), rebuild=True)
        session.flush()
    if setting is None:
        session.add(AppSetting(key=FIELDS_SETTING, value=signature))
    else:
        setting.value = signature
    return len(case_ids)


__all__ = ["SEARCHED_COLUMNS", "backfill", "refresh", "search_document", "search_hook", "task_text"]
