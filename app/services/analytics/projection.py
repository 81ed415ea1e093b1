"""Keep the dashboard's projection tables in step with the processes (a runtime hook).

After every save, in the same transaction:

- an 8D report just completed records its D4 root-cause category for its department (a rework
  round replaces the earlier one) in ``case_root_cause``;
- a stock count whose outcome names a cause (:data:`~app.services.analytics.labels.STOCK_COUNT_CAUSES`)
  records it once per case; a later count naming none (a real quality problem) removes it;
- the case's match keys (product model, batch number, each serial number, feedback type) are brought
  up to date in ``case_match_key``; when they changed, the repeat flags they concern are worked out
  again (:mod:`~app.services.analytics.repeats`), and when they changed after intake the early warning
  re-matches the case;
- a weekly assessment's computed lines (penalties, logistics costs per case and department) replace
  its earlier lines in ``assessment_line``.

The dashboard reads only these tables, never the workflows.
"""

from __future__ import annotations

import hashlib
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.clock import clock
from app.data.models import (
    AssessmentLine,
    Case,
    CaseMatchKey,
    CaseRootCause,
    Department,
    HumanTask,
    ProcessInstance,
    TaskState,
)
from app.engine.context import Actor, RunContext
from app.engine.projection import latest_data, task_data_change
from app.services import alerts
from app.services.analytics import repeats
from app.services.analytics.labels import ROOT_CAUSES, STOCK_COUNT_CAUSES

EIGHT_D_FORM = "eight_d_report"
STOCK_COUNT_FORM = "stock_count_entry"
CAUSE_FIELD = "d4_root_cause_category"
ASSESSMENT_PROCESS = "weekly_assessment"
MAX_KEYS = 200  # serial numbers of one case taken as repeat keys


def analytics_hook(session: Session, instance: ProcessInstance, workflow: Any, ctx: RunContext) -> None:
    if instance.process_key == ASSESSMENT_PROCESS:
        _assessment_lines(session, instance, latest_data(workflow))
    if instance.case_id is None:
        return
    case = session.get(Case, instance.case_id)
    if case is None:
        return
    for row in ctx.closed:
        if row.state == TaskState.COMPLETED and row.form_key == EIGHT_D_FORM:
            _eight_d_cause(session, case, workflow, row)
    counted = any(row.form_key == STOCK_COUNT_FORM and row.state == TaskState.COMPLETED for row in ctx.closed)
    record_stock_count_cause(session, case, latest_data(workflow), counted)
    refresh_match_keys(session, case, ctx.actor)


def _record_cause(session: Session, case: Case, category: str, source: str, department_id: int | None,
                  task_id: str | None) -> None:
    stmt = delete(CaseRootCause).where(CaseRootCause.case_id == case.id, CaseRootCause.source == source)
    stmt = stmt.where(CaseRootCause.department_id == department_id if department_id is not None
                      else CaseRootCause.department_id.is_(None))
    session.execute(stmt)
    session.add(CaseRootCause(case_id=case.id, department_id=department_id, category=category, source=source,
                              task_id=task_id, received_at=case.received_at, recorded_at=clock.now()))


def _eight_d_cause(session: Session, case: Case, workflow: Any, row: HumanTask) -> None:
    change = task_data_change(workflow, row.id)
    category = str((change[1] if change else {}).get(CAUSE_FIELD) or "")
    if category in ROOT_CAUSES:
        _record_cause(session, case, category, "8d", row.department_id, row.id)


def record_stock_count_cause(session: Session, case: Case, data: dict[str, Any], counted: bool) -> None:
    """Record the cause a stock count names; ``counted``: a count was entered in this operation, so a
    new outcome naming no cause (a real quality problem) removes one an earlier count recorded."""
    outcome = str(data.get("stock_count_outcome") or "")
    if outcome not in STOCK_COUNT_CAUSES:
        return
    category = STOCK_COUNT_CAUSES[outcome]
    if category is None:
        if counted:
            session.execute(delete(CaseRootCause).where(CaseRootCause.case_id == case.id,
                                                        CaseRootCause.source == "stock_count"))
        return
    recorded = session.scalar(select(CaseRootCause.category).where(
        CaseRootCause.case_id == case.id, CaseRootCause.source == "stock_count"))
    if recorded != category:
        _record_cause(session, case, category, "stock_count", None, None)


def match_keys(case: Case) -> set[tuple[str, str]]:
    """The keys ``case`` was last matched on, as the early warning reads them: ``model`` (the product
    model), ``batch`` (the batch number) and ``serial`` (each serial number,
    :func:`app.services.alerts.split_serials`); and ``type``, its feedback type (whether it counts)."""
    keys = {("serial", serial) for serial in alerts.split_serials(case.serial_numbers)[:MAX_KEYS]}
    if case.product_model:
        keys.add(("model", case.product_model[:300]))
    if case.batch_no:
        keys.add(("batch", case.batch_no[:300]))
    keys.add(("type", (case.feedback_type or "")[:300]))
    return keys


def refresh_match_keys(session: Session, case: Case, actor: Actor | None = None) -> None:
    """Bring ``case_match_key`` in step with the case: nothing to do, and no read, when the case's
    ``match_digest`` says its keys are the ones projected last time (an ordinary save). When they
    changed — a new case, or its model, batch, serial numbers or type corrected after intake — the
    repeat flags it may concern are worked out again (:func:`repeats.refresh_case`); when keys recorded
    before changed, the early warning is told too (``actor`` given): the case leaves the clusters it no
    longer matches and joins or forms the ones it now does (a changed type: the reclassification
    already told it)."""
    wanted = match_keys(case)
    digest = _digest(wanted, case)
    if case.match_digest == digest:  # the keys projected last time: nothing to read or write
        return
    case.match_digest = digest
    rows = session.scalars(select(CaseMatchKey).where(CaseMatchKey.case_id == case.id)).all()
    had = {(r.kind, r.value) for r in rows}
    if had == wanted and all(r.received_at == case.received_at for r in rows):
        return
    changed = bool(rows) and _matched(had) != _matched(wanted)
    since = min([case.received_at, *(r.received_at for r in rows)])
    for row in rows:
        session.delete(row)
    session.flush()
    session.add_all(CaseMatchKey(case_id=case.id, kind=kind, value=value, received_at=case.received_at)
                    for kind, value in sorted(wanted))
    if changed:
        alerts.project_intake(session, case)  # the serial rows the flags and the early warning read
    repeats.refresh_case(session, case, _matched(had | wanted), since)
    if changed and actor is not None:
        alerts.evaluate(session, case, actor)


def _digest(keys: set[tuple[str, str]], case: Case) -> str:
    """A digest of the keys and the receipt they are projected with (``Case.match_digest``)."""
    text = "\x1e".join(f"{kind}\x1f{value}" for kind, value in sorted(keys))
    return hashlib.sha1(f"{text}\x1d{case.received_at.isoformat()}".encode(), usedforsecurity=False).hexdigest()


def _matched(keys: set[tuple[str, str]]) -> set[tuple[str, str]]:
    return {(kind, value) for kind, value in keys if kind != "type"}


def _money(value: Any) -> Decimal:
    try:
        return Decimal(str(value or 0)).quantize(Decimal("0.01"))
    except InvalidOperation:
        return Decimal("0")


def _assessment_lines(session: Session, instance: ProcessInstance, data: dict[str, Any]) -> None:
    items = data.get("assessment_items")
    try:
        week_start = date.fromisoformat(str(data.get("week_start") or ""))
    except ValueError:
        return
    if not isinstance(items, list):
        return
    departments = {code: id_ for id_, code in session.execute(select(Department.id, Department.code))}
    numbers = {str(i.get("case_no") or "") for i in items if isinstance(i, dict)}
    case_ids = {n: id_ for n, id_ in session.execute(select(Case.number, Case.id).where(Case.number.in_(numbers)))}
    def order(line: tuple[Any, ...]) -> tuple[str, int]:
        return line[0], line[1] or 0

    wanted = sorted((
        (str(i.get("case_no") or ""), departments.get(str(i.get("department") or "")), _money(i.get("measure_penalty")),
         _money(i.get("execution_penalty")), _money(i.get("logistics_cost")))
        for i in items if isinstance(i, dict)), key=order)
    rows = session.scalars(select(AssessmentLine).where(AssessmentLine.instance_id == instance.id)).all()
    have = sorted(((r.case_number or "", r.department_id, _money(r.measure_penalty), _money(r.execution_penalty),
                    _money(r.logistics_cost)) for r in rows), key=order)
    if have == wanted and all(r.week_start == week_start for r in rows):
        return
    session.execute(delete(AssessmentLine).where(AssessmentLine.instance_id == instance.id))
    session.add_all(AssessmentLine(instance_id=instance.id, week_start=week_start, case_number=number or None,
                                   case_id=case_ids.get(number), department_id=department_id,
                                   measure_penalty=measure, execution_penalty=execution, logistics_cost=logistics)
                    for number, department_id, measure, execution, logistics in wanted)
