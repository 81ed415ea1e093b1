"""The customer's clock: what the company promises the customer and whether it keeps it.

The seeds promise (seed 001, 四 处理时限 and 2.4): consultations answered within 1 working
day, suggestions and complaints within 3, urgent feedback responded to within hours; general
feedback is responded to within 1 working day and solved within 3. Two clocks run from the
moment the feedback was received, on the working-time calendar:

* **first answer** — the first time one of our people answers the customer: a task whose
  diagram gives it ``customerClock`` = ``answer`` or ``resolution`` is completed (Marketing's
  verification of a complaint, a question to the customer, the answer itself). The automatic
  acknowledgement e-mail does not count.
* **resolution** — the reply that settles the matter: a task whose ``customerClock`` is
  ``resolution`` when it is completed (the answer to a consultation, suggestion or praise; the
  reply with the measures once the customer accepts it). While a ``customerClock`` = ``wait``
  task is open (the customer owes us information) the resolution clock is paused and its due
  time moves by the working time waited.

Limits (working time): a complaint's first answer 1 working day, its resolution 3; a
consultation is answered and resolved within 1 working day, a suggestion or praise within 3
(its one answer is both); urgent feedback gets its first answer within 2 working hours (a
consultation, suggestion or praise is then also resolved within 2), an urgent complaint its
resolution within 3 working days like any complaint — the diagrams shorten its steps so that
the standard path fits. A clock is *at risk* when less than a quarter of its limit is left.

Cases keep the outcome for the reports: the due times, when each clock was met, whether in
time and the working minutes it took, and ``clock_state``: on_track, at_risk, breached or
paused while running; met (both clocks in time), missed or stopped (ended without a
resolution: unresolvable or cancelled) once final.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from app.data.db import rowcount
from app.data.models import Case, HumanTask
from app.engine.calendar import WorkingCalendar, default_calendar
from app.engine.definitions.rules import CUSTOMER_CLOCK_KINDS as KINDS
from app.engine.projection import task_property
from app.services.working_ruler import Ruler

log = logging.getLogger(__name__)

#: the task property that ties a user task to the customer's clock
PROPERTY = "customerClock"
ANSWER, RESOLUTION, WAIT = KINDS

ON_TRACK, AT_RISK, BREACHED, PAUSED = "on_track", "at_risk", "breached", "paused"
MET, MISSED, STOPPED = "met", "missed", "stopped"
RUNNING = (ON_TRACK, AT_RISK, BREACHED, PAUSED)
FINAL = (MET, MISSED, STOPPED)
STATES = RUNNING + FINAL

#: at risk when less than this share of the limit is left
AT_RISK_SHARE = 0.25
#: "within hours" for urgent feedback
URGENT_HOURS = 2.0

FIRST_ANSWER, RESOLUTION_CLOCK = "first_answer", "resolution"


@dataclass(frozen=True)
class Limits:
    """The promised limits of a case, in working hours from its receipt."""

    first_answer: float
    resolution: float


def limits_for(feedback_type: str | None, urgency: str | None, hours_per_day: float) -> Limits:
    """The limits by type and urgency (see the module docstring for where they come from)."""
    urgent = urgency == "urgent"
    if feedback_type == "complaint":
        return Limits(URGENT_HOURS if urgent else hours_per_day, 3 * hours_per_day)
    if urgent:
        return Limits(URGENT_HOURS, URGENT_HOURS)
    reply = hours_per_day if feedback_type == "consultation" else 3 * hours_per_day
    return Limits(reply, reply)


def hours_per_day() -> float:
    """Working hours in a working day (for showing spans of working time in days)."""
    return default_calendar().hours_per_day


def _minutes(cal: WorkingCalendar, start: datetime, end: datetime) -> int:
    return round(cal.working_hours_between(start, end) * 60)


def start(case: Case, cal: WorkingCalendar | None = None) -> None:
    """Start the clock of a new case (from its ``received_at``)."""
    case.clock_paused_minutes = 0
    case.clock_state = ON_TRACK
    evaluate(case, case.received_at, cal)


def evaluate(case: Case, now: datetime, cal: WorkingCalendar | None = None) -> None:
    """Derive due times, outcome and state from the facts on the case (receipt, classification,
    first answer, resolution, time waited for the customer, end). A final clock stays as it is."""
    if case.clock_state is None or case.clock_state in FINAL:
        return
    cal = cal or default_calendar()
    limits = limits_for(case.feedback_type, case.urgency, cal.hours_per_day)
    received = case.received_at
    waited = (case.clock_paused_minutes or 0) / 60
    if case.first_answer_at is None or case.first_answer_met is None:
        # once given, the first answer keeps the limit it was measured against (a feedback
        # Marketing finds urgent when verifying it was not late for being urgent before)
        case.first_answer_due_at = cal.add_working_hours(received, limits.first_answer)
    if case.first_answer_at is not None and case.first_answer_met is None:
        assert case.first_answer_due_at is not None
        case.first_answer_met = case.first_answer_at <= case.first_answer_due_at
        case.first_answer_minutes = _minutes(cal, received, case.first_answer_at)
    case.resolution_due_at = cal.add_working_hours(received, limits.resolution + waited)
    if case.resolved_at is not None:
        case.resolution_met = case.resolved_at <= case.resolution_due_at
        case.resolution_minutes = max(_minutes(cal, received, case.resolved_at) - (case.clock_paused_minutes or 0), 0)
        case.clock_state = MET if case.first_answer_met and case.resolution_met else MISSED
        case.clock_state_until = None
        return
    if case.closed_at is not None:
        # ended without a reply the customer accepted: closed after all is a missed resolution;
        # unresolvable (the customer never sent what we needed) or cancelled stops the clock
        if case.status == "closed":
            case.resolution_met = False
            case.clock_state = MISSED
        else:
            case.clock_state = STOPPED
        case.clock_state_until = None
        return
    case.clock_state, case.clock_state_until = _running(case, now, cal, limits)


def _running(case: ClockFacts, now: datetime, cal: WorkingCalendar | Ruler,
             limits: Limits) -> tuple[str, datetime | None]:
    """(state, when it changes by time alone) of the clock that runs now."""
    if case.first_answer_at is None:
        due, limit, offset = case.first_answer_due_at, limits.first_answer, 0.0
    elif case.clock_paused_at is not None:
        return PAUSED, None
    else:
        due, limit, offset = case.resolution_due_at, limits.resolution, (case.clock_paused_minutes or 0) / 60
    assert due is not None  # set by evaluate
    if now >= due:
        return BREACHED, None
    risk_at = cal.add_working_hours(case.received_at, limit * (1 - AT_RISK_SHARE) + offset)
    if now >= risk_at:
        return AT_RISK, due
    return ON_TRACK, risk_at


# ---------------------------------------------------------------------------- events


def task_kind(workflow: Any, row: HumanTask) -> str | None:
    """The task's ``customerClock`` (``answer``, ``resolution``, ``wait``), an ``=expression``
    evaluated against the task's data (after completion: with what was entered); None when the
    task has none or its expression fails (logged: the clock must never stop the workflow)."""
    try:
        value = task_property(workflow, row.id, PROPERTY)
    except Exception:  # noqa: BLE001 - a diagram expression failing here must not break the case
        log.exception("customerClock of task %s (%s) could not be evaluated", row.id, row.element_id)
        return None
    value = str(value or "").strip()
    return value if value in KINDS else None


def record(case: Case, workflow: Any, opened: list[HumanTask], closed: list[HumanTask], now: datetime,
           cal: WorkingCalendar | None = None) -> None:
    """Apply what one operation of the case's main process did to the clock, then evaluate it.

    Called before the operation's corrections of type or urgency are applied to the case, so
    that an answer is measured against the limit known when it was given; :func:`settle`
    afterwards re-derives the rest."""
    if case.clock_state is None:
        return
    cal = cal or default_calendar()
    for row in closed:
        kind = task_kind(workflow, row)
        if kind == WAIT:
            _resume(case, row.completed_at or now, cal)
        elif kind in (ANSWER, RESOLUTION) and row.state == "completed":
            at = row.completed_at or now
            if case.first_answer_at is None:
                case.first_answer_at = at
            if kind == RESOLUTION and case.resolved_at is None:
                case.resolved_at = at
    for row in opened:
        if task_kind(workflow, row) == WAIT and case.clock_paused_at is None:
            case.clock_paused_at = row.created_at or now
    evaluate(case, now, cal)


def settle(case: Case, now: datetime, cal: WorkingCalendar | None = None) -> None:
    """Evaluate the clock at the end of an operation of the case's main process (after its
    corrections and its end, if it ended)."""
    if case.clock_state is None:
        return
    evaluate(case, now, cal)
    # written even when unchanged, so that this operation's view wins over a refresh that
    # committed meanwhile from older facts
    flag_modified(case, "clock_state")
    flag_modified(case, "clock_state_until")


def _resume(case: Case, at: datetime, cal: WorkingCalendar) -> None:
    if case.clock_paused_at is None:
        return
    case.clock_paused_minutes = (case.clock_paused_minutes or 0) + max(_minutes(cal, case.clock_paused_at, at), 0)
    case.clock_paused_at = None


def refresh(session: Session, now: datetime, limit: int = 500) -> int:
    """Move the stored state of running clocks whose next change has come (on track → at risk →
    breached); a scheduler job. Returns how many cases changed.

    Each row is changed with a compare-and-set on ``updated_at`` (every operation of the case
    sets it), so a workflow operation that commits meanwhile wins; one that commits after
    writes its whole clock (see :func:`record`).
    """
    cases = session.scalars(
        select(Case).where(Case.clock_state_until.is_not(None), Case.clock_state_until <= now)
        .order_by(Case.clock_state_until).limit(limit)
    ).all()
    cal = default_calendar()
    changed = 0
    for case in cases:
        if case.clock_state not in RUNNING:
            continue
        state, until = _running(case, now, cal, limits_for(case.feedback_type, case.urgency, cal.hours_per_day))
        result = session.execute(
            update(Case)
            .where(Case.id == case.id, Case.updated_at == case.updated_at, Case.clock_state == case.clock_state)
            .values(clock_state=state, clock_state_until=until, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        changed += rowcount(result)
    return changed


def recompute_running(session: Session, now: datetime) -> int:
    """Due times of every running clock again, after the working calendar changed."""
    cases = session.scalars(select(Case).where(Case.clock_state.in_(RUNNING))).all()
    cal = default_calendar()
    for case in cases:
        evaluate(case, now, cal)
    return len(cases)


# ---------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class ClockView:
    """What a page shows: the state now, which clock runs, its due time and working hours left
    (negative: over). ``state`` is None for a case that is not tracked."""

    state: str | None
    clock: str | None = None
    due_at: datetime | None = None
    hours_left: float | None = None


class ClockFacts(Protocol):
    """What :func:`view` reads of a case: a :class:`Case`, or a row of these columns."""

    @property
    def clock_state(self) -> str | None: ...
    @property
    def feedback_type(self) -> str: ...
    @property
    def urgency(self) -> str | None: ...
    @property
    def received_at(self) -> datetime: ...
    @property
    def first_answer_at(self) -> datetime | None: ...
    @property
    def first_answer_due_at(self) -> datetime | None: ...
    @property
    def resolution_due_at(self) -> datetime | None: ...
    @property
    def clock_paused_at(self) -> datetime | None: ...
    @property
    def clock_paused_minutes(self) -> int: ...


def view(case: ClockFacts, now: datetime, cal: WorkingCalendar | Ruler | None = None) -> ClockView:
    """The clock as of ``now`` (exact between two scheduler refreshes; nothing is written)."""
    if case.clock_state is None:
        return ClockView(None)
    if case.clock_state in FINAL:
        return ClockView(case.clock_state)
    cal = cal or default_calendar()
    limits = limits_for(case.feedback_type, case.urgency, cal.hours_per_day)
    state, _until = _running(case, now, cal, limits)
    if case.first_answer_at is None:
        clock, due = FIRST_ANSWER, case.first_answer_due_at
    else:
        clock, due = RESOLUTION_CLOCK, case.resolution_due_at
    if due is None:
        return ClockView(state, clock)
    since = case.clock_paused_at if state == PAUSED and case.clock_paused_at is not None else now
    return ClockView(state, clock, due, round(cal.working_hours_between(since, due), 2))


#: the columns :func:`view` reads (a page of clocks loads these, not whole cases with their data)
_CLOCK_COLUMNS = (Case.id, Case.clock_state, Case.feedback_type, Case.urgency, Case.received_at,
                  Case.first_answer_at, Case.first_answer_due_at, Case.resolution_due_at, Case.clock_paused_at,
                  Case.clock_paused_minutes)


def views(session: Session, case_ids: set[int], now: datetime) -> dict[int, ClockView]:
    """The clocks of several cases (one query of the clock's columns), e.g. for the rows of an
    inbox page."""
    ids = {case_id for case_id in case_ids if case_id is not None}
    if not ids:
        return {}
    ruler = Ruler(default_calendar(), now)  # the page's clocks walk the calendar's days once
    rows = session.execute(select(*_CLOCK_COLUMNS).where(Case.id.in_(ids)))
    return {row.id: view(row, now, ruler) for row in rows}
