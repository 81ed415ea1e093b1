"""Read-side SQL of the analysis dashboard and the report API (``app.services.analytics``).

Every query is bounded by a :class:`Window` — an instant range (a period in UTC) plus equality
filters on the case and the departments the cases must concern — and reads only indexed
projection tables (``feedback_case``, ``human_task``, ``survey_response``, ``case_root_cause``,
``case_serial``, ``assessment_line``), so its cost follows the chosen period, not the history.
Counting, summing and (on PostgreSQL) percentiles and time buckets are done by the database, so
a year of cases costs a few grouped rows, not a row per case in Python; on SQLite, which has no
ordered-set aggregates, the service computes percentiles and buckets from plain rows. A long
period's cycle times add up the counts of its sealed months (``cycle_rollup``, written only by
``app.services.analytics.rollup``) and read the rest of the period from ``human_task``.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Float,
    Integer,
    Row,
    Select,
    and_,
    case,
    cast,
    delete,
    exists,
    false,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    text,
    true,
    tuple_,
    union,
    union_all,
)
from sqlalchemy.orm import Session, aliased

from app.data.models import (
    AssessmentLine,
    Case,
    CaseMatchKey,
    CaseRepeat,
    CaseRootCause,
    CaseSerial,
    CycleMonth,
    CycleRollup,
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


def filter_task_cases(stmt: Select, window: Window) -> Select:
    """``stmt`` (selecting from ``human_task``) narrowed to case tasks whose case passes the window's
    filters; joins ``feedback_case`` only when a case column is filtered (the common, unfiltered
    dashboard reads the task index alone)."""
    stmt = stmt.where(HumanTask.case_id.is_not(None))
    if window.equal:
        return filter_cases(stmt.join(Case, Case.id == HumanTask.case_id), window)
    if window.department_ids is not None:
        task = aliased(HumanTask)
        stmt = stmt.where(exists().where(task.case_id == HumanTask.case_id,
                                         task.department_id.in_(window.department_ids or {-1})))
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


def is_postgres(session: Session) -> bool:
    """PostgreSQL computes percentiles and local-time buckets itself; SQLite gets plain rows."""
    return session.get_bind().dialect.name == "postgresql"


def received_count(session: Session, window: Window) -> int:
    return int(session.scalar(filter_cases(select(func.count()).select_from(Case)
                                           .where(_in(Case.received_at, window)), window)) or 0)


def received_by_bucket(session: Session, window: Window, size: str, zone: str,
                       dimensions: Sequence[str]) -> list[tuple[str, Any, date, int]]:
    """PostgreSQL only: (dimension, value, bucket's first local date, cases) for each of ``dimensions``
    (columns of ``feedback_case``), the bucket (``day``, ``week`` — Monday —, ``month``) taken in the
    time zone ``zone``; one grouped pass over the period's cases (GROUPING SETS)."""
    local = func.timezone(literal_column(_quoted(zone)), func.timezone(literal_column("'UTC'"), Case.received_at))
    bucket = func.date_trunc(literal_column(_quoted(size)), local)
    inner = filter_cases(select(bucket.label("bucket"), *(getattr(Case, d).label(d) for d in dimensions))
                         .where(_in(Case.received_at, window)), window).subquery()
    columns = [inner.c[d] for d in dimensions]
    grouping = func.grouping(*columns).label("grouping")
    stmt = (select(grouping, inner.c.bucket, *columns, func.count().label("cases"))
            .group_by(func.grouping_sets(*(tuple_(inner.c.bucket, column) for column in columns))))
    out = []
    for row in session.execute(stmt):
        # grouping(): bit i (from the left) set when dimension i is not grouped in this row's set
        index = next(i for i in range(len(dimensions)) if not row.grouping >> (len(dimensions) - 1 - i) & 1)
        out.append((dimensions[index], row[2 + index], row.bucket.date(), row.cases))
    return out


def _quoted(value: str) -> str:
    """``value`` as an SQL string literal (names from our own configuration, never from a request)."""
    return "'" + value.replace("'", "''") + "'"


def model_counts(session: Session, window: Window) -> list[tuple[str | None, int]]:
    """(product model, cases received in the window)."""
    stmt = (select(Case.product_model, func.count()).where(_in(Case.received_at, window))
            .group_by(Case.product_model))
    return [(model, count) for model, count in session.execute(filter_cases(stmt, window))]


# ---------------------------------------------------------------------------- tasks


def _hours(session: Session, start: Any, end: Any) -> Any:
    """Hours from ``start`` to ``end`` computed by the database (no datetime per row in Python)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", end - start) / 3600.0
    return (func.julianday(end) - func.julianday(start)) * 24.0


def completed_tasks(session: Session, window: Window) -> Sequence[Row[Any]]:
    """(stage, department_id, hours) of the case tasks completed in the window (hours: created → completed)."""
    stmt = (select(HumanTask.stage, HumanTask.department_id,
                   _hours(session, HumanTask.created_at, HumanTask.completed_at).label("hours"))
            .where(_in(HumanTask.completed_at, window), HumanTask.state == TaskState.COMPLETED,
                   _departments(HumanTask.department_id, window)))
    return session.execute(filter_task_cases(stmt, window)).all()


def closed_case_durations(session: Session, window: Window) -> list[float]:
    """Hours from receipt to closure of each case closed in the window."""
    stmt = select(_hours(session, Case.received_at, Case.closed_at)).where(_in(Case.closed_at, window))
    return [float(h) for h in session.scalars(filter_cases(stmt, window))]


def completed_task_percentiles(session: Session, window: Window) -> list[tuple[str, Any, int, Any, Any]]:
    """PostgreSQL only: (by, key, count, median, p90) of the hours of :func:`completed_tasks`, ``by``
    "stage" (key: the stage) or "department" (key: its id); nearest-rank (``percentile_disc``)."""
    # ranked by the interval itself (the same order as its hours, without converting every row to a
    # numeric epoch); only the chosen values are converted, by the same expression as before
    inner = filter_task_cases(
        select(HumanTask.stage.label("stage"), HumanTask.department_id.label("department_id"),
               (HumanTask.completed_at - HumanTask.created_at).label("took"))
        .where(_in(HumanTask.completed_at, window), HumanTask.state == TaskState.COMPLETED,
               _departments(HumanTask.department_id, window)), window).subquery()
    ranked = (select(func.grouping(inner.c.stage).label("by_department"), inner.c.stage, inner.c.department_id,
                     func.count().label("n"), func.percentile_disc(0.5).within_group(inner.c.took).label("median"),
                     func.percentile_disc(0.9).within_group(inner.c.took).label("p90"))
              .group_by(func.grouping_sets(tuple_(inner.c.stage), tuple_(inner.c.department_id)))).subquery()
    stmt = select(ranked.c.by_department, ranked.c.stage, ranked.c.department_id, ranked.c.n,
                  func.extract("epoch", ranked.c.median) / 3600.0, func.extract("epoch", ranked.c.p90) / 3600.0)
    return [("department" if by_department else "stage", department_id if by_department else stage, n, median, p90)
            for by_department, stage, department_id, n, median, p90 in session.execute(stmt)]


# ---------------------------------------------------------------------------- cycle-time rollup of sealed months

#: the advisory lock (PostgreSQL) a month's fill holds exclusively and the ``human_task`` triggers of
#: migration 0021_cycle_rollup take shared, so a month changed while it is being filled is dropped after
ROLLUP_LOCK = 727100021
_TENTH = 360_000_000  # a tenth of an hour in microseconds


def first_completion(session: Session) -> datetime | None:
    """When the first case task still on record was completed (where the rollup may start)."""
    return session.scalar(select(func.min(HumanTask.completed_at))
                          .where(HumanTask.state == TaskState.COMPLETED, HumanTask.case_id.is_not(None)))


def rolled_up_months(session: Session, start: datetime | None = None,
                     end: datetime | None = None) -> list[tuple[datetime, datetime]]:
    """(first instant, end) of the months counted in ``cycle_rollup``, within [start, end) if given."""
    stmt = select(CycleMonth.month_start, CycleMonth.month_end).order_by(CycleMonth.month_start)
    if start is not None:
        stmt = stmt.where(CycleMonth.month_start >= start)
    if end is not None:
        stmt = stmt.where(CycleMonth.month_end <= end)
    return [(month_start, month_end) for month_start, month_end in session.execute(stmt)]


def overlapping_months(session: Session, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The counted months that share an instant with [start, end)."""
    stmt = (select(CycleMonth.month_start, CycleMonth.month_end)
            .where(CycleMonth.month_start < end, CycleMonth.month_end > start))
    return [(month_start, month_end) for month_start, month_end in session.execute(stmt)]


def drop_months(session: Session, starts: Collection[datetime]) -> None:
    """Forget the counts of these months (the reports read their tasks again)."""
    session.execute(delete(CycleRollup).where(CycleRollup.month_start.in_(list(starts))))
    session.execute(delete(CycleMonth).where(CycleMonth.month_start.in_(list(starts))))


def lock_rollup(session: Session) -> None:
    """Before reading a month to fill: wait for transactions changing completed tasks (PostgreSQL;
    SQLite writers are serialised anyway)."""
    if is_postgres(session):
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ROLLUP_LOCK})


def store_rollup(session: Session, start: datetime, end: datetime, now: datetime,
                 counts: dict[tuple[str | None, int | None, int], int]) -> None:
    """Record the month [start, end) as counted: ``counts`` maps (stage, department id, tenths) to tasks."""
    session.add(CycleMonth(month_start=start, month_end=end, filled_at=now))
    session.flush()
    if counts:
        session.execute(insert(CycleRollup), [
            {"month_start": start, "stage": stage, "department_id": department_id, "tenths": tenths, "tasks": tasks}
            for (stage, department_id, tenths), tasks in counts.items()])


def rollup_counts(session: Session, window: Window,
                  months: Sequence[tuple[datetime, datetime]]) -> Sequence[Row[Any]]:
    """(stage, department_id, tenths, tasks) summed over ``months`` (within the window's departments)."""
    stmt = (select(CycleRollup.stage, CycleRollup.department_id, CycleRollup.tenths,
                   func.sum(CycleRollup.tasks).label("tasks"))
            .where(CycleRollup.month_start.in_([start for start, _end in months]),
                   _departments(CycleRollup.department_id, window))
            .group_by(CycleRollup.stage, CycleRollup.department_id, CycleRollup.tenths))
    return session.execute(stmt).all()


def _gaps(window: Window, months: Sequence[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """The parts of the window the (sorted, disjoint) months do not cover."""
    out, at = [], window.start
    for start, end in months:
        if start > at:
            out.append((at, start))
        at = max(at, end)
    if at < window.end:
        out.append((at, window.end))
    return out


def completed_tasks_outside(session: Session, window: Window,
                            months: Sequence[tuple[datetime, datetime]]) -> Sequence[Row[Any]]:
    """:func:`completed_tasks` of the window outside ``months`` (the window has no case filter, so
    a case task of the window's departments counts: its own department makes the case concern them)."""
    rows: list[Row[Any]] = []
    for start, end in _gaps(window, months):
        rows += completed_tasks(session, replace(window, start=start, end=end))
    return rows


def rolled_task_percentiles(session: Session, window: Window, months: Sequence[tuple[datetime, datetime]]
                            ) -> list[tuple[str, Any, int, int, int]] | None:
    """PostgreSQL only: (by, key, count, median, p90) as :func:`completed_task_percentiles` gives them,
    the median and p90 in tenths of an hour: ``months`` (rolled up, inside the window) from
    ``cycle_rollup``, the rest of the window from the tasks; the nearest rank (as ``percentile_disc``:
    the first value whose running count reaches ceil(share × count), in double precision) taken over
    the summed counts per tenth. None when one of ``months`` was dropped meanwhile (read the tasks)."""
    starts = [start for start, _end in months]
    took = HumanTask.completed_at - HumanTask.created_at
    # stages compared bytewise ("C"): only grouped and partitioned, never shown in this order
    raw = select(HumanTask.stage.collate("C").label("stage"), HumanTask.department_id.label("department_id"),
                 task_tenths(took).label("tenths"))
    parts = [raw.where(_in(HumanTask.completed_at, replace(window, start=start, end=end)),
                     HumanTask.state == TaskState.COMPLETED, HumanTask.case_id.is_not(None),
                     _departments(HumanTask.department_id, window))
             for start, end in _gaps(window, months)]
    counts = [select(CycleRollup.stage.collate("C").label("stage"), CycleRollup.department_id.label("department_id"),
                     CycleRollup.tenths.label("tenths"), CycleRollup.tasks.label("tasks"))
              .where(CycleRollup.month_start.in_(starts), _departments(CycleRollup.department_id, window))]
    if parts:
        inner = union_all(*parts).subquery() if len(parts) > 1 else parts[0].subquery()
        counts.append(select(inner.c.stage, inner.c.department_id, inner.c.tenths, func.count().label("tasks"))
                      .group_by(inner.c.stage, inner.c.department_id, inner.c.tenths))
    both = union_all(*counts).subquery()
    by_department = func.grouping(both.c.stage).label("by_department")
    grouped = (select(by_department, both.c.stage, both.c.department_id, both.c.tenths,
                      func.sum(both.c.tasks).label("tasks"))
               .group_by(func.grouping_sets(tuple_(both.c.stage, both.c.tenths),
                                            tuple_(both.c.department_id, both.c.tenths)))).subquery()
    group = (grouped.c.by_department, grouped.c.stage, grouped.c.department_id)
    running = select(*group, grouped.c.tenths,
                     func.sum(grouped.c.tasks).over(partition_by=group, order_by=grouped.c.tenths).label("seen"),
                     func.sum(grouped.c.tasks).over(partition_by=group).label("total")).subquery()
    total = cast(running.c.total, Float)

    def rank(share: float) -> Any:
        return func.min(running.c.tenths).filter(running.c.seen >= func.greatest(1, func.ceil(share * total)))

    covered = (select(func.count()).select_from(CycleMonth).where(CycleMonth.month_start.in_(starts))
               .scalar_subquery())
    stmt = (select(running.c.by_department, running.c.stage, running.c.department_id, func.max(running.c.total),
                   rank(0.5), rank(0.9), covered)
            .group_by(running.c.by_department, running.c.stage, running.c.department_id))
    rows = session.execute(stmt).all()
    if any(row[6] != len(starts) for row in rows):
        return None
    return [("department" if by else "stage", department_id if by else stage, int(n), int(median), int(p90))
            for by, stage, department_id, n, median, p90, _covered in rows]


def task_tenths(took: Any) -> Any:
    """PostgreSQL: the interval ``took`` in whole tenths of an hour, rounded exactly as the reports
    round the hours the database gives them (``round(float(hours), 1)`` in Python, hours
    ``extract(epoch)/3600.0``): to the nearest tenth, a duration exactly halfway by :func:`_halfway_up`.
    Integer arithmetic on the microseconds (``date_part`` gives double-precision seconds, within far
    less than half a microsecond for any duration under a century; rounded, they are exact)."""
    micros = cast(func.round(func.date_part("epoch", took) * 1_000_000.0), BigInteger)
    shifted = (micros + _TENTH // 2).self_group()
    quotient = shifted.op("/", precedence=8)(_TENTH).self_group()  # truncating (integers)
    remainder = func.mod(shifted, _TENTH)  # with the sign of shifted
    tenths = case((remainder == 0, quotient - 1 + _halfway_up(quotient)), (remainder < 0, quotient - 1),
                  else_=quotient)
    return cast(tenths, Integer)


def _halfway_up(quotient: Any) -> Any:
    """1 when Python rounds the hours (2q − 1)/20 (halfway between the tenths q − 1 and q) up, else 0:
    it rounds the double d nearest that value, up when d lies above it, down when below, and when d
    is the value itself (x.25, x.75 h) to the even tenth. 16d and 4d are exact, s = 16d + 4d rounded,
    err = (16d − (s − bb)) + (4d − bb) with bb = s − 16d the exact remainder (Knuth's two-sum), so
    20d = s + err exactly, compared with 2q − 1."""
    n = cast(2 * quotient - 1, Float)
    d = n / 20.0
    a, b = d * 16.0, d * 4.0
    s = a + b
    bb = s - a
    err = (a - (s - bb)) + (b - bb)
    return case((or_(s > n, and_(s == n, err > 0)), 1),
                (and_(s == n, err == 0, func.mod(quotient - 1, 2) != 0), 1), else_=0)  # k odd: to k + 1


def closed_case_percentiles(session: Session, window: Window) -> tuple[int, Any, Any]:
    """PostgreSQL only: (count, median, p90) of :func:`closed_case_durations` (nearest-rank)."""
    hours = _hours(session, Case.received_at, Case.closed_at)
    stmt = select(func.count(), func.percentile_disc(0.5).within_group(hours),
                  func.percentile_disc(0.9).within_group(hours)).where(_in(Case.closed_at, window))
    count, median, p90 = session.execute(filter_cases(stmt, window)).one()
    return int(count), median, p90


def _sum(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def charged_task_tallies(session: Session, window: Window, now: datetime) -> Sequence[Row[Any]]:
    """(department_id, lateness_charge, on time, late) of :func:`charged_tasks_due`: done by the due
    time is on time, done after it or still open after it is late, open and not yet due is neither."""
    done = and_(HumanTask.completed_at.is_not(None), HumanTask.state == TaskState.COMPLETED)
    stmt = (select(HumanTask.department_id, HumanTask.lateness_charge,
                   _sum(and_(done, HumanTask.completed_at <= HumanTask.due_at)).label("on_time"),
                   _sum(or_(and_(done, HumanTask.completed_at > HumanTask.due_at),
                            and_(~done, HumanTask.due_at < now))).label("late"))
            .where(HumanTask.lateness_charge.in_(("measures", "execution")), _in(HumanTask.due_at, window),
                   _departments(HumanTask.department_id, window))
            .group_by(HumanTask.department_id, HumanTask.lateness_charge))
    return session.execute(filter_task_cases(stmt, window)).all()


def _clock_sums(now: datetime, columns: Any) -> list[Any]:
    """on time / late of the first answer and the resolution: a recorded outcome counts as it is, a
    clock without one that is past its due time as missed."""
    out = []
    for met, due in ((columns.first_answer_met, columns.first_answer_due_at),
                     (columns.resolution_met, columns.resolution_due_at)):
        out += [_sum(met.is_(True)), _sum(or_(met.is_(False), and_(met.is_(None), due < now)))]
    return out


def customer_clock_tallies(session: Session, window: Window, now: datetime) -> tuple[int, int, int, int]:
    """(first answer on time, late, resolution on time, late) over the tracked cases received in the window."""
    stmt = select(*_clock_sums(now, Case)).where(_in(Case.received_at, window), Case.clock_state.is_not(None))
    row = session.execute(filter_cases(stmt, window)).one()
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])


def customer_clock_department_tallies(session: Session, window: Window, now: datetime) -> Sequence[Row[Any]]:
    """(department id, first answer on time, late, resolution on time, late) per department with a task
    on a tracked case received in the window (within the window's departments)."""
    if is_postgres(session):
        # driven by the period's cases: each looks up its departments in the (case_id, department_id)
        # index (a DISTINCT per case), instead of joining every task ever created and de-duplicating
        departments = (select(HumanTask.department_id).distinct()
                       .where(HumanTask.case_id == Case.id, HumanTask.department_id.is_not(None),
                              _departments(HumanTask.department_id, window)).lateral("departments"))
        cases = filter_cases(select(departments.c.department_id, *_clock_sums(now, Case))
                             .select_from(Case).join(departments, literal_column("true"))
                             .where(_in(Case.received_at, window), Case.clock_state.is_not(None)), window)
        return session.execute(cases.group_by(departments.c.department_id)).all()
    # the case's clock columns ride along in the DISTINCT, so the cases are read once
    pairs = filter_cases(
        select(HumanTask.case_id, HumanTask.department_id, Case.first_answer_met, Case.first_answer_due_at,
               Case.resolution_met, Case.resolution_due_at).distinct()
        .join(Case, Case.id == HumanTask.case_id)
        .where(_in(Case.received_at, window), Case.clock_state.is_not(None), HumanTask.department_id.is_not(None),
               _departments(HumanTask.department_id, window)), window).subquery()
    stmt = select(pairs.c.department_id, *_clock_sums(now, pairs.c)).group_by(pairs.c.department_id)
    return session.execute(stmt).all()


def open_case_ages(session: Session, window: Window,
                   bounds: Sequence[tuple[datetime | None, datetime | None]]) -> list[int]:
    """Open cases (the window's filters applied) per age bucket, a bucket being (received at or after,
    received before) — None: no bound."""
    sums = []
    for oldest, newest in bounds:
        conditions = [Case.received_at >= oldest] if oldest is not None else []
        conditions += [Case.received_at < newest] if newest is not None else []
        sums.append(_sum(and_(*conditions) if conditions else True))
    row = session.execute(filter_cases(select(*sums).where(Case.closed_at.is_(None)), window)).one()
    return [int(n) for n in row]


def overdue_open_tasks(session: Session, window: Window, now: datetime) -> list[tuple[int | None, int]]:
    """(department id, open case tasks overdue at ``now``)."""
    stmt = (select(HumanTask.department_id, func.count())
            .where(HumanTask.state == TaskState.OPEN, HumanTask.due_at < now,
                   _departments(HumanTask.department_id, window))
            .group_by(HumanTask.department_id))
    return [(department_id, count) for department_id, count in session.execute(filter_task_cases(stmt, window))]


# ---------------------------------------------------------------------------- satisfaction, costs, repeats


def closed_case_scores(session: Session, window: Window) -> list[int | None]:
    """The survey score (None: no answer) of each case closed in the window."""
    stmt = (select(SurveyResponse.score).select_from(Case)
            .outerjoin(SurveyResponse, SurveyResponse.case_id == Case.id)
            .where(_in(Case.closed_at, window)))
    return list(session.scalars(filter_cases(stmt, window)))


def closed_score_counts(session: Session, window: Window) -> list[tuple[int | None, int]]:
    """(survey score — None: no answer —, cases) of the cases closed in the window."""
    stmt = (select(SurveyResponse.score, func.count()).select_from(Case)
            .outerjoin(SurveyResponse, SurveyResponse.case_id == Case.id)
            .where(_in(Case.closed_at, window)).group_by(SurveyResponse.score))
    return [(score, count) for score, count in session.execute(filter_cases(stmt, window))]


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


@dataclass(frozen=True)
class RepeatRule:
    """One early-warning dimension as the repeat query needs it (see ``app.services.alert_rules``)."""

    dimension: str  # "model", "batch", "serial" or "serial_prefix"
    earlier: int  # earlier matching cases needed (at least 1)
    window_days: int
    prefix_length: int = 0  # serial_prefix only


def _since(postgres: bool, moment: Any, days: int) -> Any:
    """``moment`` minus ``days`` days, exactly, in the database (SQLite keeps the stored microseconds)."""
    if postgres:
        return moment - func.make_interval(0, 0, 0, days)
    return func.datetime(moment, f"-{int(days)} days").op("||")(func.substr(moment, 20))


def _earlier_count(postgres: bool, rule: RepeatRule, types: tuple[str, ...]) -> Any:
    """How many (up to ``rule.earlier``) earlier cases of ``types`` match the outer ``feedback_case`` on
    the rule's dimension within its window — received within the window before it, or at the same
    instant and opened before it. The definition the early warning uses (``queries.alerts.earlier_matches``)."""
    earlier = aliased(Case)
    timing = and_(earlier.received_at >= _since(postgres, Case.received_at, rule.window_days),
                  or_(earlier.received_at < Case.received_at,
                      and_(earlier.received_at == Case.received_at, earlier.id < Case.id)),
                  earlier.feedback_type.in_(list(types)))
    if rule.dimension in ("model", "batch"):
        column = "product_model" if rule.dimension == "model" else "batch_no"
        matches = select(earlier.id).where(getattr(earlier, column) == getattr(Case, column), timing)
    else:
        mine, theirs = aliased(CaseSerial), aliased(CaseSerial)
        if rule.dimension == "serial":
            same = theirs.serial == mine.serial
        else:
            length = rule.prefix_length
            same = and_(func.length(mine.serial) > length,
                        func.substr(theirs.serial, 1, length) == func.substr(mine.serial, 1, length))
        matches = (select(earlier.id).distinct().select_from(mine)
                   .join(theirs, same).join(earlier, earlier.id == theirs.case_id)
                   .where(mine.case_id == Case.id, theirs.case_id != Case.id, timing))
    limited = matches.correlate(Case).limit(rule.earlier).subquery()
    return select(func.count()).select_from(limited).scalar_subquery()


def repeat_condition(session: Session, rules: Sequence[RepeatRule], types: Sequence[str]) -> Any:
    """``feedback_case`` (the outer row) is a repeat: of a counted type, with at least ``earlier``
    earlier matching cases on one of the ``rules``' dimensions."""
    return _repeat_condition(is_postgres(session), tuple(rules), tuple(types))


@functools.lru_cache(maxsize=32)
def _repeat_condition(postgres: bool, rules: tuple[RepeatRule, ...], types: tuple[str, ...]) -> Any:
    """:func:`repeat_condition`, built once per database kind and rule set: it holds no values of a
    case, and building its aliases and correlated subqueries was half the CPU of opening a case
    (docs/benchmarks.md, "Opening a case"). A finished construct is only read when a statement
    is compiled, so the threads of a process share it."""
    if not rules:
        return Case.id.is_(None)  # nothing is switched on: no case is a repeat
    return and_(Case.feedback_type.in_(list(types)),
                or_(*(_earlier_count(postgres, rule, types) >= rule.earlier for rule in rules)))


def _earlier_by_window(rule: RepeatRule, types: Sequence[str]) -> Select:
    """PostgreSQL: the ids of every case that has at least ``rule.earlier`` earlier matching cases (the
    same definition as :func:`_earlier_count`), by one window-function pass over the counted cases
    instead of a look-up per case (for working out every flag again). Earlier cases at the same
    instant count only when opened before (smaller id)."""
    counted = Case.feedback_type.in_(list(types))
    rows: Select[Any]
    if rule.dimension in ("model", "batch"):
        key = Case.product_model if rule.dimension == "model" else Case.batch_no
        rows = select(Case.id.label("case_id"), Case.received_at.label("received_at"), key.label("key"),
                      literal_column("true").label("own")).where(counted, key.is_not(None))
    else:
        length = rule.prefix_length
        value = CaseSerial.serial if rule.dimension == "serial" else func.substr(CaseSerial.serial, 1, length)
        own = (literal_column("true") if rule.dimension == "serial"
               else func.bool_or(func.length(CaseSerial.serial) > length))
        rows = (select(Case.id.label("case_id"), Case.received_at.label("received_at"), value.label("key"),
                       own.label("own"))
                .join(CaseSerial, CaseSerial.case_id == Case.id).where(counted))
        if rule.dimension == "serial_prefix":  # a case counts once per prefix (a serial once per case: the key)
            rows = rows.where(func.length(CaseSerial.serial) >= length).group_by(Case.id, Case.received_at, value)
    inner = rows.subquery("matched")
    days = int(rule.window_days)
    within: Any = literal_column(f"count(*) OVER (PARTITION BY matched.key ORDER BY matched.received_at "
                            f"RANGE BETWEEN INTERVAL '{days} days' PRECEDING AND CURRENT ROW)")
    later_peers = func.count().over(partition_by=(inner.c.key, inner.c.received_at), order_by=inner.c.case_id,
                                    rows=(1, None))
    counts = select(inner.c.case_id, inner.c.own, (within - 1 - later_peers).label("earlier")).subquery()
    return select(counts.c.case_id).where(counts.c.own, counts.c.earlier >= rule.earlier)


def refresh_repeats(session: Session, case_ids: Any, rules: Sequence[RepeatRule], types: Sequence[str]) -> None:
    """Work out again whether the cases ``case_ids`` (a select of ids; None: every case) are repeats,
    and store the answer in ``case_repeat`` (a row per repeat). Per case by the correlated definition
    (:func:`repeat_condition`); every case on PostgreSQL by one window pass per rule."""
    chosen: Any = true() if case_ids is None else Case.id.in_(case_ids)
    session.execute(delete(CaseRepeat).where(true() if case_ids is None else CaseRepeat.case_id.in_(case_ids)))
    if not rules:
        return
    if case_ids is None and is_postgres(session):
        found: Any = Case.id.in_(union(*(_earlier_by_window(rule, types) for rule in rules)))
    else:
        found = repeat_condition(session, rules, types)
    session.execute(insert(CaseRepeat).from_select(
        ["case_id", "received_at"], select(Case.id, Case.received_at).where(chosen, found)))


def sharing_keys(case_id: int, since: datetime, until: datetime, keys: Collection[tuple[str, str]],
                 prefixes: Collection[str]) -> Select[Any]:
    """Ids of the case ``case_id`` and of the cases received from ``since`` to ``until`` that have one of
    ``keys`` (``case_match_key`` kind and value) or a serial number starting with one of ``prefixes``:
    those whose repeat flag a change of ``case_id``'s keys may change."""
    matches = [and_(CaseMatchKey.kind == kind, CaseMatchKey.value.in_(sorted({v for k, v in keys if k == kind})))
               for kind in sorted({k for k, _v in keys})]
    for prefix in sorted(prefixes):  # a range on the index, then the exact test (collations may order differently)
        matches.append(and_(CaseMatchKey.kind == "serial", CaseMatchKey.value >= prefix,
                            CaseMatchKey.value < prefix[:-1] + chr(ord(prefix[-1]) + 1),
                            func.substr(CaseMatchKey.value, 1, len(prefix)) == prefix))
    later = select(CaseMatchKey.case_id).where(CaseMatchKey.received_at >= since, CaseMatchKey.received_at <= until,
                                               or_(*matches) if matches else false())
    # the case's id as a parameter, not in the text: one compiled statement for every case
    ids = union(select(literal(int(case_id), Integer).label("case_id")), later).subquery()
    return select(ids.c.case_id)


#: the advisory lock a change of the early-warning rules holds exclusively and a flag's refresh shared
RULES_LOCK = "alert:rules"
_LOCKS = text("SELECT count(pg_advisory_xact_lock(hashtext(k))) FROM "
              "unnest(CAST(:keys AS text[])) WITH ORDINALITY AS t(k, n)")
_SHARED_LOCKS = text("SELECT count(pg_advisory_xact_lock_shared(hashtext(k))) FROM "
                     "unnest(CAST(:keys AS text[])) WITH ORDINALITY AS t(k, n)")


def lock_keys(session: Session, keys: Sequence[str], shared: bool = False) -> None:
    """PostgreSQL: take the advisory transaction locks ``keys`` in their order, in one statement (the
    early warning's locks, so a case's flag is worked out after concurrent cases on its keys commit)."""
    if keys and is_postgres(session):
        session.execute(_SHARED_LOCKS if shared else _LOCKS, {"keys": list(keys)})


def _repeats(window: Window) -> Any:
    """A condition on the outer ``feedback_case``: it is a repeat (its row in ``case_repeat``)."""
    return exists().where(CaseRepeat.case_id == Case.id, _in(CaseRepeat.received_at, window))


def repeat_counts(session: Session, window: Window) -> tuple[int, int]:
    """(cases received in the window, of which repeats — their stored flags), in one statement: a
    department's filter is applied once."""
    if not window.equal and window.department_ids is None:  # the two indexes alone
        repeats = select(func.count()).select_from(CaseRepeat).where(_in(CaseRepeat.received_at, window))
        stmt = select(func.count(), repeats.scalar_subquery()).select_from(Case).where(_in(Case.received_at, window))
    else:
        stmt = filter_cases(select(func.count(), func.count(CaseRepeat.case_id)).select_from(Case)
                            .outerjoin(CaseRepeat, CaseRepeat.case_id == Case.id)
                            .where(_in(Case.received_at, window)), window)
    total, repeats_ = session.execute(stmt).one()
    return int(total), int(repeats_)


def repeat_case_ids(session: Session, window: Window) -> set[int]:
    stmt = select(Case.id).where(_in(Case.received_at, window), _repeats(window))
    return set(session.scalars(filter_cases(stmt, window)))


def repeats_in(window: Window) -> Any:
    """The drill-down's condition: the case is a repeat (the period is the drill's own)."""
    return _repeats(window)


def no_jit(session: Session) -> None:
    """PostgreSQL's JIT compiles the big period queries for seconds to save milliseconds: off for the
    reports' transaction; and a year's percentiles sort some 200k rows, which spill to disk within
    the default 4 MB of sort memory: 32 MB for this transaction alone."""
    if is_postgres(session):
        session.execute(text("SET LOCAL jit = off"))
        session.execute(text("SET LOCAL work_mem = '32MB'"))


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
