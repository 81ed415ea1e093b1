"""Feedback cases: opening one (numbered, acknowledged, process started) and its projection."""

from __future__ import annotations

import secrets
from datetime import date
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from app.clock import clock, local_now
from app.data.models import Case, Counter, HumanTask, InstanceStatus, ProcessInstance, TaskState, User
from app.data.transaction_memo import transaction_key
from app.engine import audit
from app.engine.context import Actor, CaseFacts, RunContext
from app.engine.errors import NotFound
from app.engine.projection import read_case, task_data_change
from app.engine.runtime import WorkflowRuntime
from app.i18n import N_
from app.services import alerts, customer_clock, policy

MAIN_PROCESS = "feedback_case"
#: Started by a message from the 8D of each department with dated corrective actions (D5).
TRACKING_PROCESS = "corrective_action"
CASE_COLUMNS = (
    "feedback_type", "category", "urgency", "channel", "customer_name", "customer_contact",
    "customer_email", "product_model", "serial_numbers", "batch_no", "defective_qty", "description",
)
#: Case columns a task of the case's process may correct (Marketing, when verifying or
#: answering); the reason is the task's ``reclassify_reason``.
CLASSIFICATION = ("feedback_type", "category", "urgency")
#: e-mails to the customer are written in one of these ("customer_language" in the intake)
CUSTOMER_LOCALES = ("zh", "en")
RECLASSIFIED = "case_reclassified"


def next_counter(session: Session, name: str) -> int:
    """Atomically increment and return the counter ``name`` (safe across processes: the row is
    locked until the transaction ends), created at 1 — one statement."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return session.execute(
        insert(Counter).values(name=name, value=1)
        .on_conflict_do_update(index_elements=[Counter.name], set_={"value": Counter.value + 1})
        .returning(Counter.value)
    ).scalar_one()


def next_case_number(session: Session) -> str:
    year = local_now().year
    return f"FB-{year}-{next_counter(session, f'case:{year}'):05d}"


def open_case(
    session: Session,
    runtime: WorkflowRuntime,
    intake: dict[str, Any],
    actor: Actor,
    process_key: str = MAIN_PROCESS,
) -> Case:
    """Create a case from validated intake data and start its process, in one transaction."""
    now = clock.now()
    case = Case(
        number=next_case_number(session),
        public_token=secrets.token_urlsafe(24),
        received_at=now,
        acknowledged_at=now,
        created_by_id=actor.id,
        status="open",
        data=dict(intake),
        **{column: intake.get(column) for column in CASE_COLUMNS},
    )
    case.feedback_type = case.feedback_type or "complaint"
    case.customer_name = case.customer_name or ""
    language = intake.get("customer_language")
    case.customer_locale = language if language in CUSTOMER_LOCALES else "zh"
    customer_clock.start(case)
    ship_date = intake.get("ship_date")
    case.ship_date = date.fromisoformat(ship_date) if isinstance(ship_date, str) and ship_date else None
    session.add(case)
    session.flush()
    alerts.project_intake(session, case)
    runtime.start(
        session,
        process_key,
        {**intake, "case_id": case.id, "case_number": case.number},
        actor,
        case_id=case.id,
        business_key=case.number,
    )
    alerts.evaluate(session, case, actor)  # early warning, in this transaction
    return case


def case_projection_hook(session: Session, instance: ProcessInstance, workflow: Any, ctx: RunContext) -> None:
    """Keep the case's status, stage, classification and customer clock in step with its
    processes (a runtime hook).

    The stage lists the open tasks of every process of the case (the complaint itself and
    the corrective-action tracking its 8D reports started); the status and the customer's
    clock follow the case's main process only, so tracking that outlives the customer reply
    never reopens a case.
    """
    if instance.case_id is None:
        return
    facts = ctx.case_facts
    if facts is None and session.identity_map.get(identity_key(Case, instance.case_id)) is None:
        case, facts = read_case(session, instance.case_id, instance.id)  # with its facts, in one
        ctx.case_facts = facts  # held: the other hooks find the rows read with the case
    else:
        case = session.get(Case, instance.case_id)
    if case is None:
        return
    ctx.loaded.append(case)
    session.flush()
    if facts is not None and facts.first_instance_id is not None:
        session.info.setdefault(MAIN_INSTANCE_KEY, {})[case.id] = facts.first_instance_id
    main = main_instance_id(session, case.id)  # asked first: its autoflush would split the case's UPDATE
    case.stage = "、".join(dict.fromkeys(_open_titles(session, case, ctx, facts)))[:300] or None
    case.updated_at = clock.now()
    if instance.id != main:
        return
    now = clock.now()
    customer_clock.record(case, workflow, ctx.opened, ctx.closed, now)
    for row in ctx.closed:
        if row.state == TaskState.COMPLETED:
            _apply_reclassification(session, case, instance, workflow, row, ctx)
    last = workflow.last_task
    data = last.data if last is not None else {}
    if instance.status == InstanceStatus.COMPLETED:
        case.status = str(data.get("case_status") or "closed")
        case.closed_at = clock.now()
    elif instance.status == InstanceStatus.CANCELLED:
        case.status = "cancelled"
        case.closed_at = clock.now()
    elif data.get("case_status") and data.get("case_status") != case.status:
        case.status = str(data["case_status"])
    customer_clock.settle(case, now)


def _open_titles(session: Session, case: Case, ctx: RunContext, facts: CaseFacts | None) -> list[str]:
    """The titles of the case's open tasks, oldest first: from the projection's open rows and
    the other instances' open tasks read with the case, else queried."""
    if facts is not None and ctx.open_rows is not None:
        mine = [(row.created_at, row.title) for row in ctx.open_rows]
        return [title for _at, title in sorted([*mine, *facts.others_open], key=lambda item: item[0])]
    return list(session.scalars(
        select(HumanTask.title)
        .where(HumanTask.case_id == case.id, HumanTask.state == TaskState.OPEN)
        .order_by(HumanTask.created_at)
    ).all())


def _apply_reclassification(session: Session, case: Case, instance: ProcessInstance, workflow: Any,
                            row: HumanTask, ctx: RunContext) -> None:
    """Copy a classification a just-completed task changed to the case row and its open tasks,
    and audit it with the reason (the timeline shows "type changed from … to …: reason").

    Only a change made by the task itself counts: a task of a parallel branch still carries the
    values of the moment the branch started, which must not undo a later correction.
    """
    change = task_data_change(workflow, row.id)
    if change is None:
        return
    started, ended = change
    changed = {key: (started.get(key), ended.get(key)) for key in CLASSIFICATION
               if key in started and key in ended and started.get(key) != ended.get(key)}
    changed = {key: values for key, values in changed.items() if getattr(case, key) != values[1]}
    if not changed:
        return
    for key, (_before, after) in changed.items():
        setattr(case, key, after)
    session.execute(
        update(HumanTask)
        .where(HumanTask.case_id == case.id, HumanTask.state == TaskState.OPEN)
        .values(urgency=case.urgency, category=case.category)
        .execution_options(synchronize_session="fetch")
    )
    reason = str(ended.get("reclassify_reason") or "").strip()
    audit.record(
        session, actor=ctx.actor, action=RECLASSIFIED, instance=instance, case_id=case.id, task=row,
        message=reason or None,
        before={key: before for key, (before, _after) in changed.items()},
        after={key: after for key, (_before, after) in changed.items()},
    )
    if "feedback_type" in changed:  # e.g. verified as a complaint: it may now count as a repeat
        alerts.evaluate(session, case, ctx.actor)


def get_case(session: Session, case_id: int) -> Case:
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound(N_("Case not found."))
    return case


def case_by_token(session: Session, token: str) -> Case | None:
    return session.scalars(select(Case).where(Case.public_token == token)).first()


#: ``Session.info`` key: the main instance of the cases the current transaction looked at
MAIN_INSTANCE_KEY = transaction_key("cases.main_instance")


def main_instance_id(session: Session, case_id: int) -> int | None:
    """The case's own process: its first instance (later ones were started from it by messages).
    Remembered for the transaction (several hooks of one operation ask): once a case has an
    instance, a later one never has a smaller id."""
    known: dict[int, int] = session.info.setdefault(MAIN_INSTANCE_KEY, {})
    if case_id in known:
        return known[case_id]
    found = session.scalar(select(func.min(ProcessInstance.id)).where(ProcessInstance.case_id == case_id))
    if found is not None:
        known[case_id] = found
    return found


def main_instance(session: Session, case: Case) -> ProcessInstance | None:
    instance_id = main_instance_id(session, case.id)
    return session.get(ProcessInstance, instance_id) if instance_id is not None else None


def get_visible_case(session: Session, user: User, case_id: int) -> Case:
    """The case, if ``user`` may see it (see the policy); raises NotFound / Forbidden."""
    case = get_case(session, case_id)
    policy.require(policy.may_view_case(session, user, case), N_("You may not see this case."))
    return case
