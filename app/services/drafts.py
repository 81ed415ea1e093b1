"""Drafts of a task's form: what a user typed, saved without validation so that a long form
(the 8D report) survives a closed tab; private to the user, deleted when the task completes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.clock import clock
from app.data.models import HumanTask, TaskDraft, TaskState, User
from app.engine.errors import TaskNotOpen
from app.i18n import N_
from app.services import policy
from app.services.tasks import get_visible

#: form fields that are the page's machinery, not the user's input
NOT_INPUT = frozenset({"csrf_token", "submit_token", "upload_token", "upload_remove"})
MAX_VALUE = 20000
MAX_VALUES = 2000


def _allowed(session: Session, user: User, task_id: str) -> HumanTask:
    task = get_visible(session, user, task_id)
    if task.state != TaskState.OPEN:
        raise TaskNotOpen(N_("This task is no longer open."))
    policy.require(policy.may_keep_draft(user, task), N_("You may not work on this task."))
    return task


def save_draft(session: Session, user: User, task_id: str, values: Iterable[tuple[str, str]]) -> TaskDraft:
    """Keep ``values`` (the posted ``(name, value)`` pairs) as ``user``'s draft of the task."""
    task = _allowed(session, user, task_id)
    kept: dict[str, list[str]] = {}
    for count, (name, value) in enumerate(values):
        if count >= MAX_VALUES:
            break
        if name in NOT_INPUT or not isinstance(value, str) or len(name) > 200:
            continue
        kept.setdefault(name, []).append(value[:MAX_VALUE])
    draft = session.get(TaskDraft, (task.id, user.id))
    if draft is None:
        draft = TaskDraft(task_id=task.id, user_id=user.id)
        session.add(draft)
    draft.values = kept
    draft.saved_at = clock.now()
    session.flush()
    return draft


def draft_for(session: Session, user: User, task: HumanTask) -> TaskDraft | None:
    """``user``'s draft of the open ``task`` (None when there is none or they may not keep one)."""
    if task.state != TaskState.OPEN or not policy.may_keep_draft(user, task):
        return None
    return session.scalar(select(TaskDraft).where(TaskDraft.task_id == task.id, TaskDraft.user_id == user.id))


def discard_drafts(session: Session, task_id: str) -> None:
    """The task is done: every draft of it goes."""
    session.execute(delete(TaskDraft).where(TaskDraft.task_id == task_id))


def draft_pairs(draft: TaskDraft) -> list[tuple[str, Any]]:
    """The draft as ``(name, value)`` pairs, the shape a form is bound to."""
    return [(name, value) for name, values in (draft.values or {}).items() for value in values]
