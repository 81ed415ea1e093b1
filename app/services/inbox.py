"""Inbox actions beyond claim/release: assignment by a department head, delegation with
return, substitutes while away, saved filters, and bulk claim/assign.

Everything here works on the ``human_task`` projection and the inbox tables; the only
workflow operations are reading a delegated task's data and the delegator's final completion
(both through services.completion).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.clock import clock, local_zone
from app.data.db import rowcount
from app.data.models import (
    DelegationState,
    HumanTask,
    SavedFilter,
    Substitution,
    TaskDelegation,
    TaskState,
    User,
)
from app.data.models.notifications import NotificationKind
from app.data.queries.inbox import INBOX_SORTS, INBOX_VIEWS, InboxScope, TaskFilter
from app.data.queries.tasks import open_delegation
from app.engine import audit
from app.engine.codec import jsonable
from app.engine.errors import NotFound, TaskNotOpen
from app.engine.runtime import WorkflowRuntime
from app.errors import AppError
from app.formkit.build import FileStore
from app.i18n import N_
from app.services import notifications, policy
from app.services import tasks as task_service
from app.services.completion import Completion, Submission, complete_task, read_submission
from app.services.errors import Forbidden, InvalidInput
from app.services.policy import stand_in

FILTER_FIELDS = ("q", "case_number", "customer", "product_model", "serial", "category", "urgency", "stage",
                 "department", "due_from", "due_to", "sort")
#: query-string keys a saved filter keeps (the view and the business filters, not the page)
SAVED_KEYS = ("tab", *FILTER_FIELDS)


def _audit(session: Session, user: User, task: HumanTask, action: str, message: str,
           data: Any = None) -> None:
    audit.record(session, actor=task_service.actor_for(user), action=action, task=task, message=message, after=data)


def _name(user: User) -> str:
    return user.display_name or user.username


# ---------------------------------------------------------------------------- scope and filters


def scope_for(user: User, standing: policy.StandIn | None = None) -> InboxScope:
    """The user's own id and departments plus whoever they stand in for today (``standing``,
    when the caller has looked it up already)."""
    standing = standing if standing is not None else stand_in(user)
    return InboxScope(
        user_id=user.id, user_ids={user.id, *standing.user_ids},
        department_ids=set(user.department_ids) | set(standing.department_ids),
        elevated=policy.may_see_all_tasks(user),
    )


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value.strip()[:10]) if value and value.strip() else None
    except ValueError:
        return None


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=local_zone())


def parse_filter(args: Any) -> TaskFilter:
    """A TaskFilter from request arguments (unknown or malformed values are ignored)."""
    def text(key: str, size: int = 120) -> str:
        return str(args.get(key) or "").strip()[:size]

    department = text("department")
    due_from, due_to = _day(text("due_from")), _day(text("due_to"))
    sort = text("sort")
    return TaskFilter(
        q=text("q", 200), case_number=text("case_number"), customer=text("customer"),
        product_model=text("product_model"), serial=text("serial"), category=text("category", 30),
        urgency=text("urgency", 20), stage=text("stage"),
        department_id=int(department) if department.isdigit() else None,
        due_from=_local_midnight(due_from) if due_from else None,
        due_before=_local_midnight(due_to + timedelta(days=1)) if due_to else None,  # the "to" day is included
        sort=sort if sort in INBOX_SORTS else "due",
    )


def clean_query(args: Any) -> str:
    """The saved-filter part of a query string (view and filters; no page), normalised."""
    pairs = [(key, str(args.get(key)).strip()) for key in SAVED_KEYS if str(args.get(key) or "").strip()]
    return urlencode(pairs)


def view_of(query: str) -> str:
    view = dict(parse_qsl(query)).get("tab", "mine")
    return view if view in INBOX_VIEWS else "mine"


# ---------------------------------------------------------------------------- assignment


def _open_task(session: Session, user: User, task_id: str) -> HumanTask:
    task = task_service.get_visible(session, user, task_id)
    if task.state != TaskState.OPEN:
        raise TaskNotOpen(N_("This task is no longer open."))
    return task


def _colleague(session: Session, task: HumanTask, user_id: int, for_assignment: bool) -> User:
    """The colleague a task is assigned or delegated to, if the policy lets them have it."""
    colleague = session.get(User, user_id)
    if colleague is None or not policy.may_be_delegate(colleague, task):
        raise InvalidInput(N_("The chosen colleague is not an active member of the task's department."))
    if for_assignment and not policy.may_be_assigned(colleague, task):
        raise InvalidInput(N_("The chosen colleague may not do this task: the process reserves it "
                              "(its performer, e.g. the department head)."))
    return colleague


def check_assign(session: Session, head: User, task_id: str) -> HumanTask:
    """The open task, if ``head`` may assign it (asked before the chosen colleague is looked at)."""
    task = _open_task(session, head, task_id)
    policy.require(policy.may_assign(head, task), N_("Only the head of the task's department can assign it."))
    return task


def check_delegate(session: Session, user: User, task_id: str) -> HumanTask:
    """The open task, if ``user`` may delegate it (asked before the chosen colleague is looked at)."""
    task = _open_task(session, user, task_id)
    policy.require(policy.may_delegate(user, task), N_("Claim the task before delegating it."))
    if open_delegation(session, task.id) is not None:
        raise InvalidInput(N_("This task is already delegated."))
    return task


def assign(session: Session, head: User, task_id: str, assignee_id: int, expected_assignee: Any = "any") -> HumanTask:
    """A department head assigns (or reassigns) an open task of their department to a member.

    ``expected_assignee`` (an id, None for "unassigned", or "any") makes the change
    conditional on what the head saw, so a concurrent claim is not silently overridden.
    """
    task = check_assign(session, head, task_id)
    colleague = _colleague(session, task, assignee_id, for_assignment=True)
    before = task.assignee_id
    stmt = update(HumanTask).where(HumanTask.id == task_id, HumanTask.state == TaskState.OPEN)
    if expected_assignee != "any":
        stmt = stmt.where(HumanTask.assignee_id.is_(None) if expected_assignee is None
                          else HumanTask.assignee_id == expected_assignee)
    result = session.execute(stmt.values(assignee_id=colleague.id).execution_options(synchronize_session=False))
    if rowcount(result) == 0:
        raise TaskNotOpen(N_("The task changed in the meantime (claimed, assigned or completed); please reload."))
    session.refresh(task)
    _cancel_delegation(session, task, DelegationState.RECALLED)
    _audit(session, head, task, "task_assigned", f"assigned to {_name(colleague)}",
           {"assignee_id": colleague.id, "previous_assignee_id": before})
    if colleague.id != head.id:
        notifications.notify(session, [colleague], NotificationKind.ASSIGNED, task)
    session.flush()
    return task


# ---------------------------------------------------------------------------- delegation with return


def _cancel_delegation(session: Session, task: HumanTask, state: str) -> None:
    delegation = open_delegation(session, task.id)
    if delegation is not None:
        delegation.state = state
        delegation.closed_at = clock.now()


def delegate(session: Session, user: User, task_id: str, delegate_id: int, note: str = "") -> TaskDelegation:
    """Hand a task the user holds to a colleague of its department; it comes back for a final check."""
    task = check_delegate(session, user, task_id)
    if delegate_id == user.id:
        raise InvalidInput(N_("Choose a colleague other than yourself."))
    colleague = _colleague(session, task, delegate_id, for_assignment=False)
    result = session.execute(
        update(HumanTask).where(HumanTask.id == task.id, HumanTask.state == TaskState.OPEN,
                                HumanTask.assignee_id == user.id)
        .values(assignee_id=colleague.id).execution_options(synchronize_session=False)
    )
    if rowcount(result) == 0:
        raise TaskNotOpen(N_("The task changed in the meantime (claimed, assigned or completed); please reload."))
    session.refresh(task)
    delegation = TaskDelegation(task_id=task.id, delegator_id=user.id, delegate_id=colleague.id,
                                state=DelegationState.ACTIVE, note=(note or "").strip()[:500] or None,
                                created_at=clock.now())
    session.add(delegation)
    _audit(session, user, task, "task_delegated", f"delegated to {_name(colleague)}",
           {"delegate_id": colleague.id, "note": delegation.note})
    notifications.notify(session, [colleague], NotificationKind.ASSIGNED, task)
    session.flush()
    return delegation


def recall(session: Session, user: User, task_id: str) -> HumanTask:
    """The delegator takes an active delegation back (the delegate has not submitted yet)."""
    task = _open_task(session, user, task_id)
    delegation = open_delegation(session, task.id)
    if delegation is None or not policy.may_recall(user, delegation):
        raise Forbidden(N_("There is no delegation of yours to take back."))
    task.assignee_id = user.id
    delegation.state = DelegationState.RECALLED
    delegation.closed_at = clock.now()
    _audit(session, user, task, "delegation_recalled", "delegation taken back", {"delegate_id": delegation.delegate_id})
    session.flush()
    return task


def return_draft(session: Session, runtime: WorkflowRuntime, user: User, task_id: str, submission: Submission,
                 *, store_file: FileStore | None = None) -> Completion:
    """The delegate submits: the data, validated like a completion (its uploads stored once
    the delegate is known to be allowed), becomes a draft and the task goes back to the
    delegator. The BPMN task stays open. An invalid submission returns its errors."""
    task = _open_task(session, user, task_id)
    delegation = open_delegation(session, task.id)
    if delegation is None or not policy.drafts_for(user, delegation):
        raise Forbidden(N_("This task is not delegated to you."))
    if task.assignee_id != user.id:
        raise TaskNotOpen(N_("The task changed in the meantime (claimed, assigned or completed); please reload."))
    result = read_submission(session, runtime, task, submission, store_file=store_file)
    if not result.ok:
        return result
    delegation.draft = jsonable(result.data)
    delegation.state = DelegationState.RETURNED
    delegation.returned_at = clock.now()
    task.assignee_id = delegation.delegator_id
    _audit(session, user, task, "delegation_returned", "returned for the final check", delegation.draft)
    session.flush()
    return result


def finish_delegated(session: Session, runtime: WorkflowRuntime, user: User, task_id: str, submission: Submission,
                     *, store_file: FileStore | None = None, submit_token: str | None = None) -> Completion:
    """The delegator's final check: completes the BPMN task with the (possibly edited) data;
    files the delegate uploaded count as the task's own."""
    delegation = open_delegation(session, task_id)
    returned = policy.checks_draft(user, delegation)
    result = complete_task(session, runtime, user, task_id, submission, store_file=store_file,
                           submit_token=submit_token, based_on=delegation.draft if returned and delegation else None)
    if result.ok and not result.repeated and returned and delegation is not None:
        delegation.state = DelegationState.COMPLETED
        delegation.closed_at = clock.now()
        delegate_user = session.get(User, delegation.delegate_id)
        _audit(session, user, result.task, "delegation_completed",
               f"final check of the work of {_name(delegate_user) if delegate_user else '?'}",
               {"delegate_id": delegation.delegate_id})
        session.flush()
    return result


# ---------------------------------------------------------------------------- substitutes


def name_substitute(session: Session, user: User, substitute_id: int, starts_on: date, ends_on: date) -> Substitution:
    """``user`` names a substitute for the days ``starts_on``–``ends_on`` (inclusive)."""
    if substitute_id == user.id:
        raise InvalidInput(N_("Choose a colleague other than yourself."))
    substitute = session.get(User, substitute_id)
    if substitute is None or not policy.may_name_substitute(user, substitute):
        raise InvalidInput(N_("Choose an active colleague of your own department; a read-only user cannot stand in."))
    if ends_on < starts_on:
        raise InvalidInput(N_("The last day must not be before the first day."))
    row = Substitution(user_id=user.id, substitute_id=substitute.id, starts_on=starts_on, ends_on=ends_on,
                       created_at=clock.now())
    session.add(row)
    session.flush()
    audit.record(session, actor=task_service.actor_for(user), action="substitute_named",
                 message=f"{_name(substitute)}, {starts_on.isoformat()} – {ends_on.isoformat()}",
                 after=_substitution(row))
    return row


def _substitution(row: Substitution) -> dict[str, Any]:
    return {"substitution_id": row.id, "substitute_id": row.substitute_id, "starts_on": row.starts_on,
            "ends_on": row.ends_on}


def _delete_own(session: Session, user: User, model: type, row_id: int, missing: str) -> None:
    """Delete the user's own row of ``model``; another user's row is reported as not found."""
    row = session.get(model, row_id)
    if row is None or row.user_id != user.id:
        raise NotFound(missing)
    session.delete(row)
    session.flush()


def end_substitution(session: Session, user: User, substitution_id: int) -> None:
    row = session.get(Substitution, substitution_id)
    before = _substitution(row) if row is not None and row.user_id == user.id else None
    _delete_own(session, user, Substitution, substitution_id, N_("Substitution not found."))
    audit.record(session, actor=task_service.actor_for(user), action="substitute_ended", before=before)


# ---------------------------------------------------------------------------- saved filters


def save_filter(session: Session, user: User, name: str, query: str) -> SavedFilter:
    name = (name or "").strip()[:80]
    if not name:
        raise InvalidInput(N_("Give the filter a name."))
    existing = session.scalars(select(SavedFilter).where(SavedFilter.user_id == user.id,
                                                         SavedFilter.name == name)).first()
    if existing is not None:
        existing.query = query[:2000]
        session.flush()
        return existing
    row = SavedFilter(user_id=user.id, name=name, query=query[:2000], created_at=clock.now())
    session.add(row)
    session.flush()
    return row


def delete_filter(session: Session, user: User, filter_id: int) -> None:
    _delete_own(session, user, SavedFilter, filter_id, N_("Filter not found."))


# ---------------------------------------------------------------------------- bulk


@dataclass
class ItemResult:
    task_id: str
    case_number: str | None
    ok: bool
    message: str  # an N_() msgid


def bulk(session: Session, user: User, action: str, task_ids: list[str], assignee_id: int | None = None
         ) -> list[ItemResult]:
    """Claim or assign each task independently, committing each success on its own (a
    failure — e.g. a task someone else claimed first — affects only that item)."""
    results: list[ItemResult] = []
    for task_id in dict.fromkeys(task_ids):  # unique, in order
        row = session.get(HumanTask, task_id)
        number = row.case_number if row is not None else None
        try:
            if action == "claim":
                task_service.claim(session, user, task_id)
                message = N_("Claimed.")
            elif action == "assign":
                if assignee_id is None:
                    raise InvalidInput(N_("Choose a colleague to assign to."))
                assign(session, user, task_id, assignee_id)
                message = N_("Assigned.")
            else:
                raise InvalidInput(N_("Unknown action."))
            session.commit()
            results.append(ItemResult(task_id, number, True, message))
        except AppError as exc:
            session.rollback()
            results.append(ItemResult(task_id, number, False, exc.message))
    return results


__all__ = [
    "FILTER_FIELDS", "InvalidInput", "ItemResult", "assign", "bulk", "clean_query", "delegate", "delete_filter",
    "end_substitution", "finish_delegated", "name_substitute", "parse_filter", "recall", "return_draft",
    "save_filter", "scope_for", "view_of",
]
