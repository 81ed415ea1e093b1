"""Case lists and look-ups, and the process instances behind them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, exists, func, or_, select, text
from sqlalchemy.orm import Session
from sqlalchemy.orm.interfaces import ORMOption

from app.data.models import Case, HumanTask, InstanceStatus, ProcessDefinition, ProcessInstance, TaskState
from app.data.queries.search import Shape, like_pattern, search_condition


@dataclass
class CaseFilter:
    """The case list's filters beyond the plain columns (like the inbox's); empty filters nothing.

    ``stage``: an open task's element id or title (either language); ``department_id``: a
    department has (or had) a task on the case; ``received_from``/``received_before``: the
    receipt time; ``overdue_at``: an open task was due before that moment."""

    stage: str = ""
    department_id: int | None = None
    received_from: datetime | None = None
    received_before: datetime | None = None
    overdue_at: datetime | None = None


def _with_task(dialect: str, *conditions) -> ColumnElement[bool]:
    if dialect == "sqlite":
        # EXISTS, checked per case through the tasks' case index: for an IN, SQLite builds the
        # whole list of a department's cases first, before a search's first page could stop early
        return exists().where(HumanTask.case_id == Case.id, *conditions)
    return Case.id.in_(select(HumanTask.case_id).where(HumanTask.case_id.is_not(None), *conditions))


def _filtered(stmt: Select, flt: CaseFilter, dialect: str) -> Select:
    if flt.stage:
        pattern = like_pattern(flt.stage.strip())
        stmt = stmt.where(_with_task(dialect, HumanTask.state == TaskState.OPEN, or_(
            HumanTask.element_id == flt.stage.strip(), HumanTask.title.ilike(pattern, escape="\\"),
            HumanTask.title_en.ilike(pattern, escape="\\"))))
    if flt.department_id is not None:
        stmt = stmt.where(_with_task(dialect, HumanTask.department_id == flt.department_id))
    if flt.received_from is not None:
        stmt = stmt.where(Case.received_at >= flt.received_from)
    if flt.received_before is not None:
        stmt = stmt.where(Case.received_at < flt.received_before)
    if flt.overdue_at is not None:
        stmt = stmt.where(_with_task(dialect, HumanTask.state == TaskState.OPEN, HumanTask.due_at < flt.overdue_at))
    return stmt


def cases_query(user_department_ids: set[int] | None, status: str | None = None,
                search: str | None = None, clock_state: str | None = None,
                flt: CaseFilter | None = None, *, dialect: str = "", shape: Shape = "index",
                **equal: str | None) -> Select:
    """Cases, newest first; ``user_department_ids`` limits them to cases where one of those
    departments has (or had) a task (None: no limit); ``search`` is a full-text query over the
    case's search document (:mod:`app.data.queries.search`: in ``shape``, for the database
    ``dialect`` — the session's); ``clock_state`` filters on the stored state of the customer's
    clock; ``equal`` names further columns of :class:`Case` and the value each must have (None: any)."""
    stmt = select(Case)
    if user_department_ids is not None:
        stmt = stmt.where(_with_task(dialect, HumanTask.department_id.in_(user_department_ids or {-1})))
    if status:
        stmt = stmt.where(Case.status == status)
    if clock_state:
        stmt = stmt.where(Case.clock_state == clock_state)
    for column, value in equal.items():
        if value:
            stmt = stmt.where(getattr(Case, column) == value)
    if flt is not None:
        stmt = _filtered(stmt, flt, dialect)
    if search:
        if not dialect:
            raise ValueError("a search needs the database's dialect")
        stmt = search_condition(stmt, search, dialect, shape)
    return stmt.order_by(Case.received_at.desc(), Case.id.desc())


def search_page(session: Session, stmt_in: Callable[[Shape], Select], offset: int, limit: int,
                cap: int, options: Sequence[ORMOption] = ()) -> tuple[Sequence[Case], int, bool]:
    """One page of a search's cases (newest first) and their number counted up to ``cap``:
    (cases, count, exact). ``stmt_in`` gives the :func:`cases_query` of the search in a shape;
    ``options`` load the page's cases (e.g. only the columns a list shows).

    The indexes count the matches, stopping after ``cap + 1``. Up to ``cap``, the page is sorted
    from those matches (found again by the index, in a subquery whose LIMIT keeps the database
    from walking every case by date instead). Beyond ``cap`` the word is common (at 100,000
    cases, 1 % or more), so the newest cases are checked one by one until the page is full."""
    _search_plans(session)
    probe = stmt_in("index").with_only_columns(Case.id).order_by(None).limit(cap + 1).subquery()
    total = session.scalar(select(func.count()).select_from(probe)) or 0
    if total > cap:
        return session.scalars(stmt_in("scan").options(*options).limit(limit).offset(offset)).all(), cap, False
    if total == 0 or offset >= total:
        return [], total, True
    return session.scalars(
        select(Case).options(*options).where(Case.id.in_(select(probe.c.id)))
        .order_by(Case.received_at.desc(), Case.id.desc()).limit(limit).offset(offset)).all(), total, True


def _search_plans(session: Session) -> None:
    """PostgreSQL, for the rest of this transaction: random reads cost little more than
    sequential ones (``random_page_cost`` 1.1: the indexes and documents are in memory or on
    SSD), and no parallel workers. With the default 4, the count of a customer's 1,000 closed
    cases read all 100,000 cases' statuses (a hash join) instead of looking up the 2,000
    documents' cases by id: 197 → 43 ms. A search stops after a page of matches; parallel
    workers each walk their share of the newest cases and so read several times what one
    process reads, and start up besides (a customer with a department: 156 → 30 ms)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT set_config('random_page_cost', '1.1', true), "
                             "set_config('max_parallel_workers_per_gather', '0', true)"))


def case_statuses(session: Session) -> list[str]:
    """The statuses cases have, read from the status index one value after the next (a recursive
    query: a handful of look-ups instead of reading every case's status)."""
    statuses = select(func.min(Case.status).label("status")).cte("statuses", recursive=True)
    following = select(func.min(Case.status)).where(Case.status > statuses.c.status).scalar_subquery()
    statuses = statuses.union_all(select(following).where(statuses.c.status.is_not(None)))
    return sorted(session.scalars(select(statuses.c.status).where(statuses.c.status.is_not(None))))


def case_has_department_task(session: Session, case_id: int, department_ids: set[int]) -> bool:
    if not department_ids:
        return False
    return session.scalar(
        select(HumanTask.id).where(HumanTask.case_id == case_id, HumanTask.department_id.in_(department_ids)).limit(1)
    ) is not None


def case_numbers(session: Session, case_ids: set[int]) -> dict[int, str]:
    if not case_ids:
        return {}
    return {key: value for key, value in session.execute(select(Case.id, Case.number).where(Case.id.in_(case_ids)))}


def case_ids_by_number(session: Session, numbers: set[str]) -> dict[str, int]:
    """Case ids by case number (for linking figures back to their cases)."""
    if not numbers:
        return {}
    return {key: value for key, value in session.execute(select(Case.number, Case.id).where(Case.number.in_(numbers)))}


def case_processes(session: Session, case_id: int) -> dict[int, ProcessDefinition]:
    """instance id → process definition of every process of a case, the case's own one first."""
    rows = session.execute(
        select(ProcessInstance.id, ProcessDefinition)
        .join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
        .where(ProcessInstance.case_id == case_id)
        .order_by(ProcessInstance.id)
    ).all()
    return {row[0]: row[1] for row in rows}


def incident_instances(session: Session) -> Sequence[ProcessInstance]:
    return session.scalars(
        select(ProcessInstance).where(ProcessInstance.status == InstanceStatus.INCIDENT)
        .order_by(ProcessInstance.updated_at.desc())
    ).all()


def open_tasks_of_cases(session: Session, case_ids: set[int] | Select) -> dict[int, list[HumanTask]]:
    """The open tasks of each case (``case_ids``: ids, or a select of ids), oldest first — what
    a case's current stage is, in either language."""
    result: dict[int, list[HumanTask]] = {}
    if isinstance(case_ids, set) and not case_ids:
        return result
    rows = session.scalars(
        select(HumanTask).where(HumanTask.state == TaskState.OPEN, HumanTask.case_id.in_(case_ids))
        .order_by(HumanTask.created_at, HumanTask.id)
    )
    for task in rows:
        result.setdefault(task.case_id or 0, []).append(task)
    return result
