"""Rounds of a step: whether a task is a rework, who sent it back and why, and what the earlier
rounds of the same step decided (forms name their decision fields: ``decision_fields``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from app.data.models import HumanTask, TaskState
from app.data.queries.history import completion_data, newest_completed_first
from app.errors import AppError
from app.formkit.definition import decision_fields
from app.services.forms import definition_for_task


@dataclass
class Decision:
    """What one completed task decided: its task, who and when, and its decision fields' values
    with the form to read them with."""

    task: HumanTask
    by_id: int | None
    at: datetime | None
    definition: dict[str, Any]
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def reason(self) -> str:
        """The decision's written reasons (its text fields), for a notification."""
        kinds = {spec["name"]: spec.get("type") for spec in self.definition.get("fields") or []}
        return "; ".join(str(value).strip() for name, value in self.data.items()
                         if kinds.get(name) in ("text", "textarea") and value)


def _about(task: HumanTask) -> int | None:
    return (task.context or {}).get("about_department_id")


def earlier_rounds(session: Session, task: HumanTask) -> list[HumanTask]:
    """The completed earlier rounds of ``task``'s step (same instance, element and department,
    and about the same department), newest first."""
    stmt = select(HumanTask).where(
        HumanTask.instance_id == task.instance_id, HumanTask.element_id == task.element_id,
        HumanTask.state == TaskState.COMPLETED, HumanTask.id != task.id,
    )
    if task.department_id is None:
        stmt = stmt.where(HumanTask.department_id.is_(None))
    else:
        stmt = stmt.where(HumanTask.department_id == task.department_id)
    rows = session.scalars(newest_completed_first(stmt)).all()
    return [row for row in rows if _about(row) == _about(task)]


#: the completed tasks of some instances' steps, built once with expanding lists (an ORM
#: statement: its autoflush puts the operation's just-completed tasks in what it reads)
_COMPLETED_OF_STEPS = select(
    HumanTask.id, HumanTask.instance_id, HumanTask.element_id, HumanTask.department_id, HumanTask.context,
).where(
    HumanTask.instance_id.in_(bindparam("instance_ids", expanding=True)),
    HumanTask.element_id.in_(bindparam("element_ids", expanding=True)),
    HumanTask.state == TaskState.COMPLETED,
)


def earlier_rounds_of(session: Session, tasks: Sequence[HumanTask]) -> set[str]:
    """The ids of those of ``tasks`` (of one operation) that have an earlier round
    (:func:`earlier_rounds` is not empty), in one query."""
    if not tasks:
        return set()
    rows = session.execute(_COMPLETED_OF_STEPS, {"instance_ids": sorted({t.instance_id for t in tasks}),
                                                 "element_ids": sorted({t.element_id for t in tasks})}).all()
    found = set()
    for task in tasks:
        for row in rows:
            if (row.instance_id == task.instance_id and row.element_id == task.element_id and row.id != task.id
                    and row.department_id == task.department_id
                    and (row.context or {}).get("about_department_id") == _about(task)):
                found.add(task.id)
                break
    return found


def _decision(session: Session, task: HumanTask, submitted: Mapping[str, Any] | None = None) -> Decision | None:
    """``task``'s decision, or None when its form records none; ``submitted``: what it was
    completed with when its completion is not recorded yet (in the completing operation)."""
    try:
        definition = definition_for_task(session, task)
    except AppError:
        return None
    names = decision_fields(definition)
    if not names:
        return None
    if submitted is None:
        submitted = completion_data(session, [task.id]).get(task.id, {})
    data = {name: submitted.get(name) for name in names}
    return Decision(task, task.completed_by_id, task.completed_at, definition, data)


def earlier_decisions(session: Session, task: HumanTask) -> list[Decision]:
    """What the earlier rounds of ``task``'s step decided, newest first (its history)."""
    return [d for row in earlier_rounds(session, task) if (d := _decision(session, row)) is not None]


def sent_back_by(session: Session, task: HumanTask,
                 just_completed: Mapping[str, Mapping[str, Any]] | None = None) -> Decision | None:
    """For a rework, the decision that sent the work back: the newest task with decision fields
    completed in the same instance since the previous round (and before this round opened),
    about this task's department when it names one; None for a first round.
    ``just_completed``: the data of tasks completed by the running operation, by task id."""
    previous = earlier_rounds(session, task)
    if not previous or previous[0].completed_at is None:
        return None
    stmt = select(HumanTask).where(
        HumanTask.instance_id == task.instance_id, HumanTask.state == TaskState.COMPLETED,
        HumanTask.id != task.id, HumanTask.completed_at >= previous[0].completed_at,
        HumanTask.completed_at <= task.created_at,
    )
    for row in session.scalars(newest_completed_first(stmt)):
        if row.id == previous[0].id or _about(row) not in (None, task.department_id):
            continue
        found = _decision(session, row, (just_completed or {}).get(row.id))
        if found is not None:
            return found
    return None
