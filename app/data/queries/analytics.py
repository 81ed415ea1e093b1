"""Read-side SQL of the analysis dashboard and the report API (``app.services.analytics``).

Every query is bounded by a :class:`Window` — an instant range (a period in UTC) plus equality
filters on the case and the departments the cases must concern — and reads only indexed
projection tables (``feedback_case``, ``human_task``, ``survey_response``, ``case_root_cause``,
``case_match_key``, ``assessment_line``), so its cost follows the chosen period, not the history.
The queries return plain rows; the service aggregates them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Row, Select, and_, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from app.data.models import (
    AssessmentLine,
    Case,
    CaseMatchKey,
    CaseRootCause,
    Department,
    FormDefinition,
    HumanTask,
    SurveyResponse,
    TaskState,
)

#: the columns of ``feedback_case`` a report may filter on by equality
CASE_COLUMNS = ("product_model", "feedback_type", "category", "channel")


@dataclass(frozen=True)
class Window:
    start: datetime  # inclusive, UTC
    end: datetime  # exclusive, UTC
    #: (column of CASE_COLUMNS, value) pairs every case must match
    equal: tuple[tuple[str, str], ...] = ()
    #: the cases must concern one of these departments (a task, open or done); None: any case
    department_ids: frozenset[int] | None = None


def _concerns(department_ids: frozenset[int]) -> Any:
    """The case has (or had) a task of one of the departments (the case list's rule). An alias, so
    the sub-query stays its own when the outer query reads ``human_task`` too."""
    task = aliased(HumanTask)
    return exists().where(task.case_id == Case.id, task.department_id.in_(department_ids or {-1}))


def filter_cases(stmt: Select, window: Window) -> Select:
    """``stmt`` (selecting from ``feedback_case``) narrowed to the window's equality and department filters."""
    for column, value in window.equal:
        stmt = stmt.where(getattr(Case, column) == value)
    if window.department_ids is not None:
        stmt = stmt.where(_concerns(window.department_ids))
    return stmt


def _in(column: Any, window: Window) -> Any:
    return and_(column >= window.start, column < window.end)


def _departments(column: Any, window: Window) -> Any:
    """Rows of departments within the window's department filter (all when there is none)."""
    return column.in_(window.department_ids or {-1}) if window.department_ids is not None else True


# ---------------------------------------------------------------------------- cases received


def received_cases(session: Session, window: Window) -> Sequence[Row[Any]]:
    """(id, received_at, channel, feedback_type, category, product_model) of the cases received in the window."""
    stmt = select(Case.id, Case.received_at, Case.channel, Case.feedback_type, Case.category,
                  Case.product_model).where(_in(Case.received_at, window))
    return session.execute(filter_cases(stmt, window)).all()


def root_cause_counts(session: Session, window: Window) -> list[tuple[str, int]]:
    """(category, number of root causes recorded) for the cases received in the window."""
    stmt = (select(CaseRootCause.category, func.count()).join(Case, Case.id == CaseRootCause.case_id)
            .where(_in(CaseRootCause.received_at, window)).group_by(CaseRootCause.category))
    return [(category, count) for category, count in session.execute(filter_cases(stmt, window))]


# ---------------------------------------------------------------------------- tasks


def completed_tasks(session: Session, window: Window) -> Sequence[Row[Any]]:
    """(stage, department_id, created_at, completed_at) of the case tasks completed in the window."""
    stmt = (select(HumanTask.stage, HumanTask.department_id, HumanTask.created_at, HumanTask.completed_at)
            .join(Case, Case.id == HumanTask.case_id)
            .where(_in(HumanTask.completed_at, window), HumanTask.state == TaskState.COMPLETED,
                   _departments(HumanTask.department_id, window)))
    return session.execute(filter_cases(stmt, window)).all()


def closed_case_durations(session: Session, window: Window) -> Sequence[Row[Any]]:
    """(received_at, closed_at) of the cases closed in the window."""
    stmt = select(Case.received_at, Case.closed_at).where(_in(Case.closed_at, window))
    return session.execute(filter_cases(stmt, window)).all()


def charged_tasks_due(session: Session, window: Window) -> Sequence[Row[Any]]:
    """(department_id, lateness_charge, due_at, completed_at, state) of the tasks with a lateness
    charge (8D measures, execution of corrective actions) due in the window."""
    stmt = (select(HumanTask.department_id, HumanTask.lateness_charge, HumanTask.due_at,
                   HumanTask.completed_at, HumanTask.state)
            .join(Case, Case.id == HumanTask.case_id)
            .where(HumanTask.lateness_charge.in_(("measures", "execution")), _in(HumanTask.due_at, window),
                   _departments(HumanTask.department_id, window)))
    return session.execute(filter_cases(stmt, window)).all()


def customer_clocks(session: Session, window: Window) -> Sequence[Row[Any]]:
    """(id, first_answer_due_at, first_answer_met, resolution_due_at, resolution_met, closed_at)
    of the tracked cases received in the window."""
    stmt = (select(Case.id, Case.first_answer_due_at, Case.first_answer_met, Case.resolution_due_at,
                   Case.resolution_met, Case.closed_at)
            .where(_in(Case.received_at, window), Case.clock_state.is_not(None)))
    return session.execute(filter_cases(stmt, window)).all()


def case_departments(session: Session, case_ids: Sequence[int]) -> list[tuple[int, int]]:
    """(case id, department id) for every department with a task on one of the cases."""
    out: list[tuple[int, int]] = []
    ids = list(case_ids)
    for i in range(0, len(ids), 5000):  # bounded IN lists
        stmt = (select(HumanTask.case_id, HumanTask.department_id).distinct()
                .where(HumanTask.case_id.in_(ids[i:i + 5000]), HumanTask.department_id.is_not(None)))
        out.extend((case_id, department_id) for case_id, department_id in session.execute(stmt))
    return out


def open_case_received(session: Session, window: Window) -> list[datetime]:
    """When each case still open (not closed) was received; all open cases, the window's filters applied."""
    stmt = select(Case.received_at).where(Case.closed_at.is_(None))
    return list(session.scalars(filter_cases(stmt, window)))


def overdue_open_tasks(session: Session, window: Window, now: datetime) -> list[tuple[int | None, int]]:
    """(department id, open case tasks overdue at ``now``)."""
    stmt = (select(HumanTask.department_id, func.count()).join(Case, Case.id == HumanTask.case_id)
            .where(HumanTask.state == TaskState.OPEN, HumanTask.due_at < now,
                   _departments(HumanTask.department_id, window))
            .group_by(HumanTask.department_id))
    return [(department_id, count) for department_id, count in session.execute(filter_cases(stmt, window))]


# ---------------------------------------------------------------------------- satisfaction, costs, repeats


def closed_case_scores(session: Session, window: Window) -> list[int | None]:
    """The survey score (None: no answer) of each case closed in the window."""
    stmt = (select(SurveyResponse.score).select_from(Case)
            .outerjoin(SurveyResponse, SurveyResponse.case_id == Case.id)
            .where(_in(Case.closed_at, window)))
    return list(session.scalars(filter_cases(stmt, window)))


def assessment_sums(session: Session, window: Window, first: date, last: date) -> Sequence[Row[Any]]:
    """(department_id, measure penalty, execution penalty, logistics cost) summed over the weekly
    assessments whose week begins between ``first`` and ``last``."""
    stmt = (select(AssessmentLine.department_id, func.sum(AssessmentLine.measure_penalty),
                   func.sum(AssessmentLine.execution_penalty), func.sum(AssessmentLine.logistics_cost))
            .where(AssessmentLine.week_start >= first, AssessmentLine.week_start <= last,
                   _departments(AssessmentLine.department_id, window))
            .group_by(AssessmentLine.department_id))
    if window.equal:
        stmt = filter_cases(stmt.join(Case, Case.id == AssessmentLine.case_id),
                            Window(window.start, window.end, window.equal))
    return session.execute(stmt).all()


def repeat_case_ids(session: Session, window: Window, kinds: Sequence[str]) -> set[int]:
    """Cases received in the window with a match key (of ``kinds``) an earlier case also has."""
    earlier = aliased(CaseMatchKey)
    stmt = (select(CaseMatchKey.case_id).distinct().join(Case, Case.id == CaseMatchKey.case_id)
            .where(CaseMatchKey.kind.in_(kinds), _in(CaseMatchKey.received_at, window),
                   exists().where(earlier.kind == CaseMatchKey.kind, earlier.value == CaseMatchKey.value,
                                  earlier.received_at < CaseMatchKey.received_at,
                                  earlier.case_id != CaseMatchKey.case_id)))
    return set(session.scalars(filter_cases(stmt, window)))


# ---------------------------------------------------------------------------- drill-down and labels


def drill_cases(window: Window, condition: Any, period_column: Any = Case.received_at) -> Select[tuple[Case]]:
    """Cases of the window (``period_column`` within it; None: any time) meeting ``condition``, newest first."""
    stmt = select(Case)
    if period_column is not None:
        stmt = stmt.where(_in(period_column, window))
    if condition is not None:
        stmt = stmt.where(condition)
    return filter_cases(stmt, window).order_by(Case.received_at.desc(), Case.id.desc())


def with_root_cause(category: str) -> Any:
    return exists().where(CaseRootCause.case_id == Case.id, CaseRootCause.category == category)


def with_department(department_id: int) -> Any:
    return _concerns(frozenset({department_id}))


def with_overdue_task(department_id: int | None, now: datetime) -> Any:
    return exists().where(HumanTask.case_id == Case.id, HumanTask.state == TaskState.OPEN, HumanTask.due_at < now,
                          HumanTask.department_id == department_id if department_id is not None
                          else HumanTask.department_id.is_(None))


def with_score(score: int | None) -> Any:
    answered = select(SurveyResponse.case_id).where(SurveyResponse.case_id == Case.id)
    if score is None:
        return ~exists(answered)
    return exists(answered.where(SurveyResponse.score == score))


def with_ids(case_ids: set[int]) -> Any:
    return Case.id.in_(case_ids or {-1})


def open_between(oldest: datetime | None, newest: datetime | None) -> Any:
    """Open cases received after ``oldest`` (None: any) and at or before ``newest`` (None: any)."""
    conditions: list[Any] = [Case.closed_at.is_(None)]
    if oldest is not None:
        conditions.append(Case.received_at > oldest)
    if newest is not None:
        conditions.append(Case.received_at <= newest)
    return and_(*conditions)


def either(*conditions: Any) -> Any:
    return or_(*conditions)


def department_codes(session: Session) -> dict[int, tuple[str, str, str]]:
    """department id → (code, Chinese name, English name)."""
    return {d.id: (d.code, d.name_zh, d.name_en) for d in session.scalars(select(Department).order_by(Department.id))}


def department_id_of(session: Session, code: str) -> int | None:
    return session.scalar(select(Department.id).where(Department.code == code))


def latest_form_content(session: Session, key: str) -> dict[str, Any] | None:
    """The newest stored version of form ``key`` (for its choice labels)."""
    return session.scalar(select(FormDefinition.content).where(FormDefinition.key == key)
                          .order_by(FormDefinition.version.desc()).limit(1))


def product_models(session: Session, limit: int = 200) -> list[str]:
    """Product models known from cases (for the filter's choices), most frequent first."""
    stmt = (select(Case.product_model).where(Case.product_model.is_not(None)).group_by(Case.product_model)
            .order_by(func.count().desc()).limit(limit))
    return [m for m in session.scalars(stmt) if m]
