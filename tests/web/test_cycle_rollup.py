"""Cycle times from the rollup of sealed months equal the figures read from the tasks themselves.

Data: tasks completed from January to July 2026 (now: 20 July 12:00 Shanghai; January to June are
sealed), of several stages and departments (some without either), with random durations and
durations exactly halfway between two tenths of an hour (k.k5 h, x.25 h, x.75 h: where rounding
could differ), plus tasks that must not count (cancelled, open, without a case). The figures of a
year, of a custom period starting mid-month, of a department head and of a filtered report are
taken from the tasks (no month counted), then from the rollup, then again after a task completes
this month and after tasks of a sealed month change (which drops that month until it is filled).
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, select, update

from app.clock import clock
from app.data.models import (
    Case,
    CycleMonth,
    CycleRollup,
    HumanTask,
    ProcessInstance,
    TaskState,
)
from app.scheduler.runner import cycle_rollup_job
from tests.conftest import BACKEND, api_token
from tests.web.test_dashboard import World

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 7, 20, 12, tzinfo=SH).astimezone(UTC)
PERIODS = [
    {"period": "custom", "start": "2025-07-21", "end": "2026-07-20"},
    {"period": "custom", "start": "2026-01-15", "end": "2026-07-20"},
    {"period": "custom", "start": "2026-02-01", "end": "2026-05-31"},
    {"period": "custom", "start": "2026-02-01", "end": "2026-07-20", "product_model": "A"},
    {"period": "quarter", "start": "2026-05-01"},
]
STAGES = ("核实", "分析", "8D", "执行", None)
DEPARTMENTS = ("marketing", "quality", "production", None)
#: halfway between two tenths of an hour, in seconds: 0.05 h, 0.15 h, 0.25 h (exact in binary), 1.75 h, 12.45 h …
HALFWAY = [(2 * k + 1) * 180 for k in (0, 1, 2, 3, 7, 17, 124, 249, 1001)]


@pytest.fixture
def seeded(app, database):
    clock.set(NOW)
    rng = random.Random(11)
    with database.transaction() as session:
        world = World(session)  # the departments and one instance for the tasks
        dept = world.dept
        cases = []
        for i, model in enumerate("AABBA"):
            case = Case(number=f"R{i}", feedback_type="complaint", category="quality", channel="hotline",
                        customer_name="客户", product_model=model, received_at=datetime(2026, 1, 2, tzinfo=UTC),
                        status="open", public_token=f"R{i}", data={})
            session.add(case)
            cases.append(case)
        session.flush()
        start = datetime(2026, 1, 1, tzinfo=SH).astimezone(UTC)
        n = 0
        while True:
            n += 1
            completed = start + timedelta(hours=n * 7.3 + rng.random())
            if completed >= NOW - timedelta(hours=1):
                break
            took = (timedelta(seconds=rng.choice(HALFWAY)) if n % 4 == 0
                    else timedelta(seconds=rng.randint(60, 300 * 3600), microseconds=rng.randint(0, 999_999)))
            state = TaskState.CANCELLED if n % 23 == 0 else TaskState.COMPLETED
            code = DEPARTMENTS[n % 4] if n % 9 else None
            session.add(HumanTask(
                id=f"t{n}", instance_id=world.instance_id, case_id=None if n % 29 == 0 else cases[n % 5].id,
                process_key="t", element_id="x", title="x", stage=STAGES[n % 5] if n % 13 else None,
                department_id=dept[code] if code else None, state=state, created_at=completed - took,
                completed_at=completed, context={}))
        session.add(HumanTask(id="open1", instance_id=world.instance_id, case_id=cases[0].id, process_key="t",
                              element_id="x", title="x", stage="核实", department_id=dept["production"],
                              state=TaskState.OPEN, created_at=NOW - timedelta(hours=2, minutes=15), context={}))
    return app


def _figures(client, headers) -> list[str]:
    out = []
    for args in PERIODS:
        response = client.get("/api/v1/reports/cycle_times", query_string=args, headers=headers)
        assert response.status_code == 200, response.get_json()
        out.append(json.dumps(response.get_json()["data"], sort_keys=True))
    return out


def _from_tasks(database, client, users) -> dict[str, list[str]]:
    """The figures with no month counted (the tasks themselves), the counts put back afterwards."""
    with database.transaction() as session:
        session.execute(delete(CycleRollup))
        session.execute(delete(CycleMonth))
    return {user: _figures(client, headers) for user, headers in users.items()}


def _months(database) -> list[datetime]:
    with database.session() as session:
        return list(session.scalars(select(CycleMonth.month_start).order_by(CycleMonth.month_start)))


def test_rollup_figures_equal_the_tasks_figures_and_stay_equal(seeded, database):
    client = seeded.test_client()
    users = {user: {**api_token(client, user), "Accept-Language": "en"} for user in ("manager", "production_head")}
    from_tasks = {user: _figures(client, headers) for user, headers in users.items()}
    assert '"count": 0' not in from_tasks["manager"][0] and '"stages": []' not in from_tasks["manager"][0]

    assert cycle_rollup_job(seeded) == 6  # January to June; July is not over
    months = _months(database)
    assert [m.astimezone(SH).month for m in months] == [1, 2, 3, 4, 5, 6]
    assert cycle_rollup_job(seeded) == 0  # nothing left to fill
    with database.session() as session:
        assert session.scalar(select(CycleRollup.id).limit(1)) is not None
    for user, headers in users.items():
        assert _figures(client, headers) == from_tasks[user], user

    # a task completes this month, as a completion writes it: nothing counted is dropped
    with database.transaction() as session:
        session.execute(update(HumanTask).where(HumanTask.id == "open1")
                        .values(state=TaskState.COMPLETED, completed_at=NOW))
    assert _months(database) == months
    with_rollup = {user: _figures(client, headers) for user, headers in users.items()}
    assert with_rollup == _from_tasks(database, client, users)
    assert with_rollup != from_tasks  # the new task counts

    # tasks of sealed months change: their months are dropped, the others stay, the figures follow
    assert cycle_rollup_job(seeded) == 6
    march = datetime(2026, 3, 10, tzinfo=SH).astimezone(UTC)
    may = datetime(2026, 5, 10, tzinfo=SH).astimezone(UTC)
    with database.transaction() as session:
        in_march = session.scalar(select(HumanTask).where(HumanTask.completed_at >= march,
                                                          HumanTask.state == TaskState.COMPLETED).limit(1))
        session.delete(in_march)
        session.execute(update(HumanTask).where(HumanTask.id == session.scalar(
            select(HumanTask.id).where(HumanTask.completed_at >= may, HumanTask.case_id.is_not(None),
                                       HumanTask.state == TaskState.COMPLETED).limit(1))).values(case_id=None))
    assert [m.astimezone(SH).month for m in _months(database)] == [1, 2, 4, 6]
    with_rollup = {user: _figures(client, headers) for user, headers in users.items()}
    assert with_rollup == _from_tasks(database, client, users)

    # a change that does not touch what is counted keeps the month; a completed task recorded late drops it
    assert cycle_rollup_job(seeded) == 6
    with database.transaction() as session:
        session.execute(update(HumanTask).where(HumanTask.completed_at < march).values(title="renamed"))
    assert len(_months(database)) == 6
    with database.transaction() as session:
        late = session.get(HumanTask, "open1")
        session.add(HumanTask(id="late1", instance_id=late.instance_id, case_id=late.case_id, process_key="t",
                              element_id="x", title="x", stage="8D", department_id=late.department_id,
                              state=TaskState.COMPLETED, created_at=march - timedelta(hours=30), completed_at=march,
                              context={}))
    assert [m.astimezone(SH).month for m in _months(database)] == [1, 2, 4, 5, 6]
    with_rollup = {user: _figures(client, headers) for user, headers in users.items()}
    assert with_rollup == _from_tasks(database, client, users)

    # an instance deleted with its tasks (retention deletes a case's instances): the foreign key's
    # cascade drops the months of its completed tasks too
    assert cycle_rollup_job(seeded) == 6
    with database.transaction() as session:
        late = session.get(HumanTask, "late1")
        other = ProcessInstance(definition_id=session.get(ProcessInstance, late.instance_id).definition_id,
                                process_key="t", state="{}", serializer_version="-")
        session.add(other)
        session.flush()
        late.instance_id = other.id  # not a change of what is counted
        other_id = other.id
    assert len(_months(database)) == 6
    with database.transaction() as session:
        session.execute(delete(ProcessInstance).where(ProcessInstance.id == other_id))
    assert [m.astimezone(SH).month for m in _months(database)] == [1, 2, 4, 5, 6]
    with database.session() as session:
        assert session.get(HumanTask, "late1") is None
    with_rollup = {user: _figures(client, headers) for user, headers in users.items()}
    assert with_rollup == _from_tasks(database, client, users)


def test_a_month_is_counted_only_once_it_is_sealed(seeded, database):
    from app.services.analytics import rollup

    clock.set(datetime(2026, 7, 1, 12, tzinfo=SH).astimezone(UTC))  # June ended 12 hours ago
    assert [m.astimezone(SH).month for m, _end in rollup.sealed_months(NOW - timedelta(days=200), clock.now())] \
        == [1, 2, 3, 4, 5]
    with database.transaction() as session, pytest.raises(ValueError):
        rollup.fill_month(session, datetime(2026, 6, 1, tzinfo=SH).astimezone(UTC),
                          datetime(2026, 7, 1, tzinfo=SH).astimezone(UTC))
    assert cycle_rollup_job(seeded) == 5
    # months of another time zone (UTC here) replace the ones they overlap: nothing is counted twice
    with database.transaction() as session:
        assert rollup.fill_month(session, datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))
        assert not rollup.fill_month(session, datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))
    assert [m.astimezone(UTC).isoformat() for m in _months(database)] == [
        "2025-12-31T16:00:00+00:00", "2026-01-31T16:00:00+00:00", "2026-03-01T00:00:00+00:00",
        "2026-04-30T16:00:00+00:00"]


@pytest.mark.skipif(BACKEND != "postgres", reason="the tenths are computed by PostgreSQL only")
def test_postgres_rounds_durations_to_tenths_as_python_does(database):
    from sqlalchemy import BigInteger, cast, func, literal_column

    from app.data.queries.analytics import task_tenths
    from app.services.analytics.rollup import tenths

    series = select(func.generate_series(-300, 30000).label("k")).subquery()
    with database.session() as session:
        for offset in (0, 1, -1):  # exactly halfway, a microsecond above and below
            micros = (2 * cast(series.c.k, BigInteger) + 1) * 180_000_000 + offset
            took = micros * literal_column("interval '1 microsecond'")
            rows = session.execute(select(micros, task_tenths(took),
                                          func.extract("epoch", took) / 3600.0)).all()
            assert [(m, t) for m, t, _h in rows] == [(m, tenths(h)) for m, _t, h in rows]
