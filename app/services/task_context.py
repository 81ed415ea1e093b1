"""What a task page shows read-only above its form: the earlier data its form declares.

A form names it in its definition: ``"context": ["case_intake", {"form": "verify_feedback",
"fields": ["verified_description", ...]}]`` — the latest submission of each named form in the
same case (the intake is the case's own data), about the same department when the task names
one (diagram property ``about``, e.g. the 8D report a verification checks).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.data.models import Case, HumanTask, TaskState
from app.data.queries.history import completion_data, newest_completed_first
from app.errors import AppError
from app.formkit.definition import context_entries
from app.services.forms import definition_by_key, definition_for_task

#: the form a case is opened with; its data is the case's own
INTAKE_FORM = "case_intake"


@dataclass
class ContextSection:
    """One earlier form's data: its definition (narrowed to the declared fields) and values."""

    key: str
    definition: dict[str, Any]
    data: dict[str, Any] = field(default_factory=dict)
    task: HumanTask | None = None


def _narrowed(definition: dict[str, Any], names: list[str] | None) -> dict[str, Any]:
    if not names:
        return definition
    return {**definition, "fields": [f for f in definition.get("fields") or [] if f["name"] in names]}


def _submissions(session: Session, task: HumanTask, key: str,
                 per_department: bool) -> list[tuple[HumanTask, dict[str, Any]]]:
    """The newest completed task with form ``key`` of the task's case (else its instance), or
    the newest of each department, with what it was completed with."""
    stmt = select(HumanTask).where(HumanTask.form_key == key, HumanTask.state == TaskState.COMPLETED)
    stmt = stmt.where(HumanTask.case_id == task.case_id) if task.case_id else \
        stmt.where(HumanTask.instance_id == task.instance_id)
    about = (task.context or {}).get("about_department_id")
    if about:
        stmt = stmt.where(HumanTask.department_id == about)
    found: dict[int | None, tuple[HumanTask, dict[str, Any]]] = {}
    for row in session.scalars(newest_completed_first(stmt)):
        group = row.department_id if per_department else None
        if group in found:
            continue
        submitted = completion_data(session, [row.id]).get(row.id)
        if submitted is not None:
            found[group] = (row, submitted)
            if not per_department:
                break
    return list(found.values())


def task_context(session: Session, task: HumanTask) -> list[ContextSection]:
    """The sections ``task``'s form declares, those with data, in the declared order."""
    try:
        declared = context_entries(definition_for_task(session, task))
    except AppError:
        return []
    sections = []
    for key, names, per_department in declared:
        try:
            definition = _narrowed(definition_by_key(session, key), names)
        except AppError:
            continue
        if key == INTAKE_FORM:
            case = session.get(Case, task.case_id) if task.case_id else None
            found: list[tuple[HumanTask | None, dict[str, Any]]] = [(None, dict(case.data or {}))] if case else []
        else:
            found = list(_submissions(session, task, key, per_department))
        for source, data in found:
            shown = {f["name"]: data[f["name"]] for f in definition["fields"]
                     if data.get(f["name"]) not in (None, "", [])}
            if shown:
                sections.append(ContextSection(key, definition, shown, source))
    return sections


def case_submissions(session: Session, case_id: int,
                     keys: Collection[str]) -> dict[str, list[tuple[HumanTask, dict[str, Any]]]]:
    """For each form of ``keys``: every completed task of the case with it, newest first, each
    with the data it was completed with (the printable documents read the same submissions this
    page shows) — two statements for all the forms."""
    stmt = select(HumanTask).where(HumanTask.case_id == case_id, HumanTask.form_key.in_(sorted(keys)),
                                   HumanTask.state == TaskState.COMPLETED)
    rows = session.scalars(newest_completed_first(stmt)).all()
    data = completion_data(session, {row.id for row in rows})
    found: dict[str, list[tuple[HumanTask, dict[str, Any]]]] = {key: [] for key in keys}
    for row in rows:
        if row.id in data:
            found[row.form_key].append((row, data[row.id]))
    return found
