"""The manager approval screen: every open task that is a decision on someone else's work.

Which tasks are approvals is declarative: :data:`APPROVAL_STEPS` maps (process key, element
id) to an approval kind, and a BPMN user task may instead carry the property
``approval`` = kind (``spiffworkflow:property name="approval"``), which wins over the table —
so a new approval step in a diagram needs no Python. :data:`KINDS` says per kind who
decides, whose work it approves (four-eyes), the form values of approve and reject, whether
it is decided inline on the screen or on the task page, and whether it may be bulk approved.

Decisions complete the task through :func:`app.services.completion.complete_task` (the task's
own form validates the values) and add an ``approval_decision`` audit event with the kind and reason.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.data.models import Department, HumanTask, ProcessDefinition, ProcessInstance, TaskState, User
from app.data.queries.history import completion_events, latest_completion
from app.data.queries.tasks import open_tasks_with_elements
from app.engine import audit
from app.engine.errors import NotFound, TaskNotOpen
from app.engine.runtime import WorkflowRuntime
from app.errors import AppError
from app.i18n import N_
from app.services.errors import Forbidden, NotAnApproval, ReasonRequired
from app.services.tasks import actor_for

log = logging.getLogger(__name__)

APPROVE, REJECT = "approve", "reject"


@dataclass(frozen=True)
class ApprovalKind:
    key: str
    label: str
    #: element ids whose completers submitted the work under decision (four-eyes)
    submitted_by: tuple[str, ...]
    #: who decides: members (or only heads) of ``department``, or users with one of ``roles``
    department: str | None = None
    heads_only: bool = False
    roles: tuple[str, ...] = ()
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
    "shipment": ApprovalKind(
        "shipment", N_("Replenishment / exchange / return"), submitted_by=("verify",), department="quality",
        inline=False, needs_request=True,
    ),
    "eight_d": ApprovalKind(
        "eight_d", N_("8D verification"), submitted_by=("report",), department="quality", routine=True,
        approve_value="accept",
    ),
    "execution": ApprovalKind(
        "execution", N_("Corrective action verification"), submitted_by=("execute",), department="quality",
        routine=True, decision_field="execution_decision", approve_value="accept",
        reason_field="execution_reason",
    ),
    "closure": ApprovalKind(
        "closure", N_("Case closure"), submitted_by=("report",), department="quality", inline=False,
    ),
    "sign_quality": ApprovalKind(
        "sign_quality", N_("Assessment sign-off (head of Quality)"), submitted_by=("review",),
        department="quality", heads_only=True,
    ),
    "sign_gm": ApprovalKind(
        "sign_gm", N_("Assessment sign-off (General Manager)"), submitted_by=("review",),
        department="management", heads_only=True, roles=("manager",),
    ),
}

#: (top-level process key, element id) → approval kind, for diagrams without the property.
APPROVAL_STEPS: dict[tuple[str, str], str] = {
    ("feedback_case", "preliminary"): "shipment",
    ("feedback_case", "verify_8d"): "eight_d",
    ("feedback_case", "summary"): "closure",
    ("corrective_action", "verify_execution"): "execution",
    ("weekly_assessment", "sign_quality"): "sign_quality",
    ("weekly_assessment", "sign_gm"): "sign_gm",
}

VIEW_ROLES = ("admin", "manager", "auditor")

# ---------------------------------------------------------------------------- which tasks

_BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
_property_cache: dict[str, dict[str, str]] = {}


def _properties_of(session: Session, definition_id: int, content_hash: str) -> dict[str, str]:
    """element id → approval kind from ``approval`` properties of a diagram's user tasks
    (cached by content hash: a deployed version never changes, so its XML is read once)."""
    cached = _property_cache.get(content_hash)
    if cached is not None:
        return cached
    found: dict[str, str] = {}
    xml = session.scalar(select(ProcessDefinition.bpmn_xml).where(ProcessDefinition.id == definition_id)) or ""
    try:
        root = ET.fromstring(xml)  # noqa: S314 - deployed diagrams, parsed by the engine already
    except ET.ParseError:
        root = None
    for task in root.iter(f"{_BPMN}userTask") if root is not None else ():
        for prop in task.iter():
            if prop.tag.endswith("}property") and prop.get("name") == "approval" and prop.get("value") in KINDS:
                found[task.get("id", "")] = prop.get("value", "")
    _property_cache[content_hash] = found
    return found


def _definition_meta(session: Session) -> dict[int, tuple[str, str, dict[str, int]]]:
    """id → (key, content hash, dependencies) of every deployed definition (no XML)."""
    return {
        row.id: (row.key, row.content_hash, row.dependencies or {})
        for row in session.execute(select(ProcessDefinition.id, ProcessDefinition.key,
                                          ProcessDefinition.content_hash, ProcessDefinition.dependencies))
    }


def definition_steps(session: Session, definition_id: int,
                     meta: dict[int, tuple[str, str, dict[str, int]]] | None = None) -> dict[str, str]:
    """element id → kind from the ``approval`` properties of a definition and its called processes."""
    meta = meta if meta is not None else _definition_meta(session)
    steps: dict[str, str] = {}
    seen: set[int] = set()
    todo = [definition_id]
    while todo:
        current = todo.pop()
        if current in seen or current not in meta:
            continue
        seen.add(current)
        _key, content_hash, dependencies = meta[current]
        for element, kind in _properties_of(session, current, content_hash).items():
            steps.setdefault(element, kind)
        todo.extend(int(v) for v in dependencies.values())
    return steps


def kind_of(session: Session, task: HumanTask,
            meta: dict[int, tuple[str, str, dict[str, int]]] | None = None) -> ApprovalKind | None:
    """The approval kind of a task: its BPMN ``approval`` property, else the table."""
    instance = session.get(ProcessInstance, task.instance_id)
    if instance is not None:
        kind = definition_steps(session, instance.definition_id, meta).get(task.element_id)
        if kind:
            return KINDS[kind]
    kind = APPROVAL_STEPS.get((task.process_key, task.element_id))
    return KINDS[kind] if kind else None


def _candidate_keys(session: Session, meta: dict[int, tuple[str, str, dict[str, int]]]) -> set[tuple[str, str]]:
    keys = set(APPROVAL_STEPS)
    for definition_id, (key, _hash, _deps) in meta.items():
        keys.update((key, element) for element in definition_steps(session, definition_id, meta))
    return keys


# ---------------------------------------------------------------------------- who


def _department_id(session: Session, code: str | None) -> int | None:
    if not code:
        return None
    cache = session.info.setdefault("approval_department_ids", {})  # per session (request)
    if code not in cache:
        cache[code] = session.scalar(select(Department.id).where(Department.code == code))
    return cache[code]


def is_approver(session: Session, user: User, kind: ApprovalKind) -> bool:
    """Whether ``user`` decides items of ``kind`` (by department/headship or role)."""
    if kind.roles and user.has_role(*kind.roles):
        return True
    department_id = _department_id(session, kind.department)
    if department_id is None:
        return False
    return department_id in (user.head_of_ids if kind.heads_only else user.department_ids)


def may_see(session: Session, user: User, kind: ApprovalKind) -> bool:
    return is_approver(session, user, kind) or user.has_role(*VIEW_ROLES)


def submitter_ids(session: Session, task: HumanTask, kind: ApprovalKind) -> set[int]:
    """Who submitted the work ``task`` decides on: the completer(s) of the latest preceding
    ``kind.submitted_by`` task(s) of the same instance (all of those completed at that same
    latest moment, so parallel 8D reports completed together all count)."""
    done = latest_completion(session, task.instance_id, kind.submitted_by, before=task.created_at)
    if not done:
        return set()
    latest = done[0].completed_at
    return {row.completed_by_id for row in done if row.completed_at == latest and row.completed_by_id}


def check_four_eyes(session: Session, user: User, task: HumanTask) -> None:
    """Refuse a decision by the person who submitted the item (any path: page, API, screen)."""
    kind = kind_of(session, task)
    if kind is None:
        return
    if user.id in submitter_ids(session, task, kind):
        raise Forbidden(N_("You submitted this item yourself; someone else must decide on it (four-eyes)."))


# ---------------------------------------------------------------------------- the list


@dataclass
class ApprovalItem:
    task: HumanTask
    kind: ApprovalKind
    facts: dict[str, Any]
    submitters: set[int]
    may_decide: bool
    blocked: str | None  # why the user may not decide (shown on the row)


def _request_of(session: Session, task: HumanTask) -> dict[str, Any] | None:
    """The latest verify submission of the case (from the audit trail, no workflow load)."""
    for event in completion_events(session, task.instance_id, "verify"):
        if isinstance(event.data_after, dict):
            return event.data_after
    return None


def _money(value: Any) -> Decimal:
    try:
        return Decimal(str(value or 0))
    except (InvalidOperation, ValueError):
        return Decimal(0)


def facts_for(kind: ApprovalKind, data: dict[str, Any], request: dict[str, Any] | None) -> dict[str, Any]:
    """What a manager decides on, per kind, from the task's data (read-only)."""
    facts: dict[str, Any] = {}
    if kind.key == "shipment":
        source = request or data
        facts.update(
            request_type=source.get("request_type"), request_items=source.get("request_items") or [],
            request_reason=source.get("request_reason"), return_arrangement=source.get("return_arrangement"),
            freight_cost=data.get("freight_cost"),
        )
    elif kind.key == "eight_d":
        facts.update(
            department=data.get("dept"), round=data.get("eight_d_round"),
            late_measure_days=data.get("measure_late_days"), overdue=bool(data.get("eight_d_overdue")),
            occurrence_cause=data.get("d4_occurrence_cause"), escape_cause=data.get("d4_escape_cause"),
            corrective=[row.get("action") for row in data.get("d5_corrective") or [] if isinstance(row, dict)],
            evidence=[f for f in data.get("eight_d_attachments") or [] if isinstance(f, dict)],
        )
    elif kind.key == "execution":
        facts.update(
            department=data.get("dept"), round=data.get("execution_round"), due_at=data.get("execution_due_at"),
            late_days=(data.get("execution_reports") or [{}])[-1].get("late_days"),
            overdue=bool(data.get("execution_overdue")),
            actions=[row for row in data.get("actions") or [] if isinstance(row, dict)],
            evidence=[f for f in data.get("execution_attachments") or [] if isinstance(f, dict)],
        )
    elif kind.key == "closure":
        facts.update(
            results=[
                {"department": r.get("department"), "accepted": r.get("accepted"), "rounds": r.get("rounds"),
                 "late_measure_days": r.get("late_measure_days")}
                for r in data.get("eight_d_results") or [] if isinstance(r, dict)
            ],
            freight_cost=data.get("freight_cost"), close_rounds=data.get("close_rounds"),
        )
    elif kind.key in ("sign_quality", "sign_gm"):
        totals = data.get("assessment_totals") or {}
        rows = [{"department": code, **values} for code, values in sorted(totals.items()) if isinstance(values, dict)]
        facts.update(
            week_start=data.get("week_start"), week_end=data.get("week_end"), totals=rows,
            penalties=sum((_money(r.get("measure_penalty")) + _money(r.get("execution_penalty")) for r in rows),
                          Decimal(0)),
            logistics=sum((_money(r.get("logistics_cost")) for r in rows), Decimal(0)),
            grand_total=sum((_money(r.get("head_total")) + _money(r.get("responsible_share")) for r in rows),
                            Decimal(0)),
            cases=len({i.get("case_no") for i in data.get("assessment_items") or [] if isinstance(i, dict)}),
            unmatched_logistics=len(data.get("unmatched_logistics") or []),
            quality_sign_off=data.get("quality_sign_off") if kind.key == "sign_gm" else None,
            rejections=data.get("rejections"),
        )
    return facts


def pending(session: Session, runtime: WorkflowRuntime, user: User, kind: str | None = None,
            limit: int = 50) -> list[ApprovalItem]:
    """The open approval items ``user`` may see (deciders, plus admins/managers/auditors read-only)."""
    from app.services.tasks import can_act

    items: list[ApprovalItem] = []
    meta = _definition_meta(session)
    for task in open_tasks_with_elements(session, _candidate_keys(session, meta)):
        task_kind = kind_of(session, task, meta)
        if task_kind is None or (kind and task_kind.key != kind) or not may_see(session, user, task_kind):
            continue
        request = _request_of(session, task) if task_kind.key == "shipment" else None
        if task_kind.needs_request and (request is None or (request.get("request_type") or "none") == "none"):
            continue
        try:
            data = runtime.task_data(session, task.id)
        except AppError:
            log.exception("cannot read the data of approval task %s", task.id)
            data = {}
        submitters = submitter_ids(session, task, task_kind)
        blocked = None
        if user.id in submitters:
            blocked = N_("You submitted this item; someone else must decide.")
        elif not is_approver(session, user, task_kind) or not can_act(user, task):
            blocked = N_("You may view this item but not decide on it.")
        items.append(ApprovalItem(task, task_kind, facts_for(task_kind, data, request), submitters,
                                  blocked is None, blocked))
        if len(items) >= limit:
            break
    return items


def count_pending(session: Session, user: User) -> int:
    """Approval items ``user`` can decide (for the navigation badge; no workflow loads)."""
    from app.services.tasks import can_act

    count = 0
    meta = _definition_meta(session)
    for task in open_tasks_with_elements(session, _candidate_keys(session, meta)):
        task_kind = kind_of(session, task, meta)
        if task_kind is None or not is_approver(session, user, task_kind) or not can_act(user, task):
            continue
        if task_kind.needs_request:
            request = _request_of(session, task)
            if request is None or (request.get("request_type") or "none") == "none":
                continue
        count += 1
    return count


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
    if decision not in (APPROVE, REJECT):
        raise NotFound(N_("Unknown decision."))
    reason = (reason or "").strip()
    if decision == REJECT and not reason:
        raise ReasonRequired(N_("A reason is required to reject or return an item."))
    if not is_approver(session, user, kind):
        raise Forbidden(N_("You may not decide on this item."))
    if decision == APPROVE:
        payload = {kind.decision_field: kind.approve_value, kind.reason_field: reason or default_reason,
                   **kind.approve_extra}
    else:
        payload = {kind.decision_field: kind.reject_value, kind.reason_field: reason}
    # complete_task checks can_act, the delegation guard and four-eyes, then validates with the form.
    result = complete_task(session, runtime, user, task_id, Submission(data=payload, locale=locale))
    if not result.ok:
        return Decision(None, result.errors)
    audit.record(session, actor=actor_for(user), action="approval_decision", task=task,
                 message=f"{kind.key}: {decision}",
                 after={"kind": kind.key, "decision": decision, "reason": payload[kind.reason_field]})
    session.flush()
    return Decision(result.task)


__all__ = [
    "APPROVAL_STEPS", "KINDS", "ApprovalItem", "ApprovalKind", "Decision", "NotAnApproval", "ReasonRequired",
    "check_four_eyes", "count_pending", "decide", "facts_for", "is_approver", "kind_of", "pending",
    "submitter_ids",
]
