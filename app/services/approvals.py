"""The approval screen: every open task that is a decision on someone else's work.

Which tasks are approvals, who decides and whose work is decided are declared in the diagrams:
a user task with the property ``approval`` = kind is an approval item, it is decided by whoever
may complete it (its department, narrowed by ``performer``; see :mod:`app.services.policy`),
and ``submittedBy`` names the task(s) whose completer may not decide it (four-eyes). The
projection copies these properties into ``human_task``, so the screen never parses a diagram.
:data:`KINDS` only says per kind how it is shown and decided here: its label, the form values of
approve and reject, whether it is decided inline or on the task page, and whether it may be
bulk approved.

Decisions complete the task through :func:`app.services.completion.complete_task` (the task's
own form validates the values) and add an ``approval_decision`` audit event with the kind and reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.data.models import AuditEvent, HumanTask, TaskState, User
from app.data.queries.tasks import approval_department_ids, open_approval_rows, open_approval_rule_rows, tasks_by_id
from app.engine import audit
from app.engine.errors import TaskNotOpen
from app.engine.runtime import WorkflowRuntime
from app.errors import AppError
from app.i18n import N_
from app.services import policy
from app.services.approval_facts import facts_for, kept_data
from app.services.errors import InvalidInput, NotAnApproval, ReasonRequired
from app.services.four_eyes import read_submitters, submitter_ids
from app.services.tasks import actor_for

log = logging.getLogger(__name__)

APPROVE, REJECT = "approve", "reject"
#: ``human_task.context`` key: the task data an approval item's facts are built from (facts_hook)
FACTS_DATA = "facts_data"
#: the request type an item kept when it opened (the verification's, which the item's data carries)
_KEPT_REQUEST = HumanTask.context[FACTS_DATA]["request_type"].as_string().label("kept_request_type")


@dataclass(frozen=True)
class ApprovalKind:
    """How items of one kind are shown and decided on the screen (who decides is in the diagram)."""

    key: str
    label: str
    #: decided on the screen (True) or on the task page because its form needs more (False)
    inline: bool = True
    #: may be approved in bulk
    routine: bool = False
    decision_field: str = "decision"
    approve_value: str = "approve"
    reject_value: str = "reject"
    reason_field: str = "reason"
    #: extra form values sent with an approval
    approve_extra: dict[str, Any] = field(default_factory=dict)
    #: only an approval item when the case asked for something (verify's request_type != none)
    needs_request: bool = False


KINDS: dict[str, ApprovalKind] = {
    "shipment": ApprovalKind("shipment", N_("Replenishment / exchange / return"), inline=False, needs_request=True),
    "eight_d": ApprovalKind("eight_d", N_("8D verification"), routine=True, approve_value="accept"),
    "execution": ApprovalKind(
        "execution", N_("Corrective action verification"), routine=True, decision_field="execution_decision",
        approve_value="accept", reason_field="execution_reason",
    ),
    "closure": ApprovalKind("closure", N_("Case closure"), inline=False),
    "sign_quality": ApprovalKind("sign_quality", N_("Assessment sign-off (head of Quality)")),
    "sign_gm": ApprovalKind("sign_gm", N_("Assessment sign-off (General Manager)")),
}

# ---------------------------------------------------------------------------- which tasks, whose work


def kind_of(session: Session, task: HumanTask) -> ApprovalKind | None:
    """The approval kind of a task (its ``approval`` property, projected), or None."""
    return KINDS.get(task.approval or "")


def may_use(session: Session, user: User, standing: policy.StandIn | None = None) -> bool:
    """Whether ``user`` may open the approvals screen (see the policy)."""
    return policy.may_use_approvals(user, approval_department_ids(session), standing)


# ---------------------------------------------------------------------------- the list


@dataclass
class ApprovalItem:
    task: HumanTask
    kind: ApprovalKind
    facts: dict[str, Any]
    submitters: set[int]
    may_decide: bool
    blocked: str | None  # why the user may not decide (shown on the row)


def _visible_rows(session: Session, user: User, standing: policy.StandIn) -> list[tuple[Any, ApprovalKind]]:
    """Open approval tasks ``user`` may see, with their kinds, by due time: plain rows of the
    columns the rule reads (no workflow loads, no entities for items not shown)."""
    sees = policy.approval_viewer(user, standing)
    return [(row, task_kind) for row in open_approval_rows(session, _KEPT_REQUEST)
            if (task_kind := KINDS.get(row.approval or "")) is not None and sees(row)]


def _latest_verify(session: Session, instance_ids: Collection[int], value: Any,
                   keep: Callable[[Any], bool] = lambda _value: True) -> dict[int, Any]:
    """``value`` (a column of the audit event) of the latest verify submission per instance, in
    one query (the badge counts every open shipment item: one query each was the cost of every
    page a decider opened); an event whose value ``keep`` refuses gives way to an older one."""
    found: dict[int, Any] = {}
    if not instance_ids:
        return found
    rows = session.execute(
        select(AuditEvent.instance_id, value)
        .where(AuditEvent.instance_id.in_(instance_ids), AuditEvent.element == "verify",
               AuditEvent.action == "task_completed")
        .order_by(AuditEvent.id.desc()))
    for instance_id, data in rows:
        if instance_id is not None and instance_id not in found and keep(data):
            found[instance_id] = data
    return found


def _requests_of(session: Session, instance_ids: Collection[int]) -> dict[int, dict[str, Any]]:
    """The latest verify submission per instance of ``instance_ids``."""
    return _latest_verify(session, instance_ids, AuditEvent.data_after, lambda data: isinstance(data, dict))


def _request_types_of(session: Session, instance_ids: Collection[int]) -> dict[int, str | None]:
    """The request type of the latest verify submission per instance (without reading the
    submissions whole)."""
    return _latest_verify(session, instance_ids, AuditEvent.data_after["request_type"].as_string())


def _asks_nothing(request_type: str | None) -> bool:
    """A shipment approval is an item only when the case asked for something."""
    return (request_type or "none") == "none"


def _items(session: Session, pairs: list[tuple[Any, ApprovalKind]]) -> list[tuple[Any, ApprovalKind]]:
    """Of ``pairs`` (a row with ``kept_request_type``, its kind), those that are items: a kind that
    needs a request counts only when the case asked for something — as the item kept it when it
    opened, else (an item opened before items kept it) as the latest verification in the audit
    trail says. The screen and the badge both count by this."""
    asked = _request_types_of(session, {row.instance_id for row, task_kind in pairs
                                        if task_kind.needs_request and row.kept_request_type is None})
    return [(row, task_kind) for row, task_kind in pairs if not (task_kind.needs_request and _asks_nothing(
        row.kept_request_type if row.kept_request_type is not None else asked.get(row.instance_id)))]


@dataclass
class Screen:
    """The approvals screen: the items shown, and the kinds of every item the user may see."""

    items: list[ApprovalItem]
    kinds: list[ApprovalKind]


def screen(session: Session, runtime: WorkflowRuntime, user: User, kind: str | None = None,
           limit: int = 50) -> Screen:
    """The open approval items ``user`` may see (deciders, plus overseers read-only), of ``kind``
    if given, at most ``limit``; and the kinds of all they may see (for the filter)."""
    standing = policy.stand_in(user)
    visible = _visible_rows(session, user, standing)
    kinds = {task_kind.key for _row, task_kind in visible}
    chosen = [(row, task_kind) for row, task_kind in visible if not kind or task_kind.key == kind]
    shown = _items(session, chosen)[:limit]
    requests = _requests_of(session, {row.instance_id for row, task_kind in shown if task_kind.key == "shipment"})
    tasks = tasks_by_id(session, [row.id for row, _kind in shown])
    read_submitters(session, tasks)
    items = []
    for task in tasks:
        task_kind = KINDS[task.approval or ""]
        request = requests.get(task.instance_id) if task_kind.key == "shipment" else None
        submitters = submitter_ids(session, task)
        blocked = None
        if not policy.passes_four_eyes(user, submitters):
            blocked = N_("You submitted this item; someone else must decide.")
        elif not policy.may_decide(user, task, submitters, standing):
            blocked = N_("You may view this item but not decide on it.")
        items.append(ApprovalItem(task, task_kind, facts_for(task_kind.key, _data(session, runtime, task), request),
                                  submitters, blocked is None, blocked))
    return Screen(items, [found for key, found in KINDS.items() if key in kinds])


def _data(session: Session, runtime: WorkflowRuntime, task: HumanTask) -> dict[str, Any]:
    """The task data an item's facts are built from: kept with its row when it opened
    (:func:`facts_hook`); an item opened before rows kept it is read from its workflow."""
    kept = (task.context or {}).get(FACTS_DATA)
    if isinstance(kept, dict):
        return kept
    try:
        return runtime.task_data(session, task.id)
    except AppError:
        log.exception("cannot read the data of approval task %s", task.id)
        return {}


def facts_hook(session: Session, instance: Any, workflow: Any, ctx: Any) -> None:
    """Keep with each approval item that opens the task data its facts are built from, so the
    screen never loads a workflow to list the items (a runtime hook)."""
    for row in ctx.opened:
        if row.approval in KINDS and (task := workflow.get_task_from_id(UUID(row.id))) is not None:
            row.context = {**(row.context or {}), FACTS_DATA: kept_data(row.approval, task.data)}


def count_pending(session: Session, user: User, standing: policy.StandIn | None = None) -> int:
    """Approval items ``user`` can decide (for the navigation's badge, on every page: no workflow
    loads, only the columns the rule reads, the user's people built once, the requests' types
    read in SQL)."""
    standing = standing if standing is not None else policy.stand_in(user)
    departments, assignees = policy.completion_reach(user, standing)
    decides = policy.completer(user, standing)
    decidable = [(task, task_kind) for task in open_approval_rule_rows(session, departments, assignees, _KEPT_REQUEST)
                 if (task_kind := KINDS.get(task.approval or "")) is not None and decides(task)]
    return len(_items(session, decidable))


# ---------------------------------------------------------------------------- deciding


@dataclass
class Decision:
    task: HumanTask | None  # None when the task's form refused the values
    errors: dict[str, list[str]] = field(default_factory=dict)


def decide(session: Session, runtime: WorkflowRuntime, user: User, task_id: str, decision: str,
           reason: str, locale: str = "zh", default_reason: str = "") -> Decision:
    """Approve or reject (= return for rework) one item inline.

    A rejection needs a reason (ReasonRequired, nothing changes). Four-eyes, the approver
    rule and the task's own form are enforced; a successful decision completes the task and
    adds an ``approval_decision`` audit event.
    """
    from app.services.completion import Submission, complete_task
    from app.services.tasks import get_visible

    task = get_visible(session, user, task_id)
    kind = kind_of(session, task)
    if kind is None:
        raise NotAnApproval(N_("This task is not an approval."))
    if task.state != TaskState.OPEN:
        raise TaskNotOpen(N_("This item has already been decided."))
    if not kind.inline:
        raise NotAnApproval(N_("This item is decided on its task page."))
    policy.require(policy.may_complete(user, task), N_("You may not decide on this item."))
    if decision not in (APPROVE, REJECT):
        raise InvalidInput(N_("Unknown decision."))
    reason = (reason or "").strip()
    if decision == REJECT and not reason:
        raise ReasonRequired(N_("A reason is required to reject or return an item."))
    if decision == APPROVE:
        payload = {kind.decision_field: kind.approve_value, kind.reason_field: reason or default_reason,
                   **kind.approve_extra}
    else:
        payload = {kind.decision_field: kind.reject_value, kind.reason_field: reason}
    # complete_task checks the policy, the delegation guard and four-eyes, then validates with the form.
    result = complete_task(session, runtime, user, task_id, Submission(data=payload, locale=locale))
    if not result.ok:
        return Decision(None, result.errors)
    audit.record(session, actor=actor_for(user), action="approval_decision", task=task,
                 message=f"{kind.key}: {decision}",
                 after={"kind": kind.key, "decision": decision, "reason": payload[kind.reason_field]})
    session.flush()
    return Decision(result.task)


__all__ = [
    "KINDS", "ApprovalItem", "ApprovalKind", "Decision", "NotAnApproval", "ReasonRequired",
    "Screen", "count_pending", "decide", "kind_of", "may_use", "screen",
]
