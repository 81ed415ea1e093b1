"""Four-eyes: who submitted the work a task decides on, and the refusal of their own decision.

Its own module because both the completion checks (:mod:`app.services.tasks`) and the
approvals screen need it, and approvals builds on completion.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.data.models import HumanTask, User
from app.data.queries.history import latest_completion, submitters_column
from app.data.transaction_memo import transaction_key
from app.i18n import N_
from app.services import policy

#: ``Session.info`` key: by task id, the submitters read with the task in this transaction
SUBMITTERS_KEY = transaction_key("four_eyes.submitters")


def remember_submitters(session: Session, task_id: str, found: Any) -> None:
    """Keep for the transaction what :func:`app.data.queries.history.submitters_column` read with
    the task (a JSON array of user ids, or null for none)."""
    session.info.setdefault(SUBMITTERS_KEY, {})[task_id] = {user_id for user_id in found or () if user_id}


def read_submitters(session: Session, tasks: Collection[HumanTask]) -> None:
    """Read who submitted the work each of ``tasks`` decides on, all in one statement, for
    :func:`submitter_ids` in this transaction (a list of approval items: one query each before)."""
    known = session.info.get(SUBMITTERS_KEY, {})
    ids = sorted(t.id for t in tasks if (t.context or {}).get("submitted_by") and t.id not in known)
    if not ids:
        return
    found = submitters_column(session.get_bind().dialect.name)
    for task_id, submitters in session.execute(select(HumanTask.id, found).where(HumanTask.id.in_(ids))):
        remember_submitters(session, task_id, submitters)


def submitter_ids(session: Session, task: HumanTask) -> set[int]:
    """Who submitted the work ``task`` decides on: the completer(s) of the latest preceding
    ``submittedBy`` task(s) of the same instance (all of those completed at that same latest
    moment, so parallel 8D reports completed together all count). Read with the task when the
    completion read it (:func:`remember_submitters`)."""
    elements = tuple((task.context or {}).get("submitted_by") or ())
    if not elements:
        return set()
    known: set[int] | None = session.info.get(SUBMITTERS_KEY, {}).get(task.id)
    if known is not None:
        return set(known)
    done = latest_completion(session, task.instance_id, elements, before=task.created_at)
    if not done:
        return set()
    latest = done[0].completed_at
    return {row.completed_by_id for row in done if row.completed_at == latest and row.completed_by_id}


def check_four_eyes(session: Session, user: User, task: HumanTask) -> None:
    """Refuse a completion by the person who submitted the work (any path: page, API, screen)."""
    policy.require(policy.passes_four_eyes(user, submitter_ids(session, task)),
                   N_("You submitted this item yourself; someone else must decide on it (four-eyes)."))
