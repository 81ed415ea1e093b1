"""Concurrency on PostgreSQL: real row locks between OS processes and under a thread pool.

Runs only with TEST_DB=postgres (the Makefile runs the suite once per database).
"""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select, text

from app.data.models import AuditEvent, HumanTask, InstanceStatus, ProcessInstance, TaskState
from app.engine.context import Actor
from app.engine.definitions.deploy import deploy
from app.engine.runtime import WorkflowRuntime
from app.services.setup import ensure_departments, known_department_names
from tests.engine import chain, definitions, forms, one_task_process, process, user_task

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        os.environ.get("TEST_DB", "sqlite") != "postgres",
        reason="PostgreSQL concurrency tests run only with TEST_DB=postgres",
    ),
]


def _complete_in_process(db_url: str, task_id: str, label: str, barrier, results) -> None:
    """Child process: its own Database and runtime; complete the task right after the barrier."""
    from app.data.db import Database
    from app.engine.errors import ConcurrentUpdate, TaskNotOpen

    database = Database(db_url)
    runtime = WorkflowRuntime()
    try:
        with database.session() as warm:  # connect before the race, not during it
            warm.execute(select(1))
        barrier.wait(timeout=30)
        try:
            with database.transaction() as session:
                runtime.complete_task(session, task_id, {"note": label}, Actor(None, label))
            results.put((label, "ok"))
        except (TaskNotOpen, ConcurrentUpdate) as exc:
            results.put((label, type(exc).__name__))
        except Exception as exc:  # noqa: BLE001 - reported to the parent
            results.put((label, f"error: {exc!r}"))
    finally:
        database.dispose()


@pytest.fixture
def one_task(database):
    with database.transaction() as session:
        ensure_departments(session)
        deploy(session, {"one_task.bpmn": one_task_process()}, forms(),
               known_departments=known_department_names(session))


def _start(database, count: int) -> list[tuple[int, str]]:
    runtime = WorkflowRuntime()
    started = []
    with database.transaction() as session:
        for i in range(count):
            instance = runtime.start(session, "one_task", {"n": i}, Actor.system())
            task = session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id)).one()
            started.append((instance.id, task.id))
    return started


def test_two_processes_complete_the_same_task_exactly_once(db_url, database, one_task):
    ((instance_id, task_id),) = _start(database, 1)
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_complete_in_process, args=(db_url, task_id, label, barrier, results))
        for label in ("proc-a", "proc-b")
    ]
    for p in procs:
        p.start()
    outcomes = dict(results.get(timeout=90) for _ in procs)
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0

    assert sorted(outcomes.values()) in (["TaskNotOpen", "ok"], ["ConcurrentUpdate", "ok"]), outcomes
    winner = next(label for label, outcome in outcomes.items() if outcome == "ok")
    with database.session() as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.instance_id == instance_id, AuditEvent.action == "task_completed")
        ).all()
        assert [(e.task_id, e.actor_label, e.data_after) for e in events] == [(task_id, winner, {"note": winner})]
        task = session.get(HumanTask, task_id)
        assert task.state == TaskState.COMPLETED
        assert session.get(ProcessInstance, instance_id).status == InstanceStatus.COMPLETED


def test_fifty_parallel_completions_lose_nothing(database, one_task):
    started = _start(database, 50)
    runtime = WorkflowRuntime()

    def complete(item: tuple[int, str]) -> str:
        _instance_id, task_id = item
        with database.transaction() as session:
            runtime.complete_task(session, task_id, {"note": f"done {task_id[:8]}"}, Actor(None, "pool"))
        return task_id

    with ThreadPoolExecutor(max_workers=10) as pool:
        done = list(pool.map(complete, started))
    assert sorted(done) == sorted(task_id for _, task_id in started)

    ids = [instance_id for instance_id, _ in started]
    with database.session() as session:
        statuses = session.scalars(select(ProcessInstance.status).where(ProcessInstance.id.in_(ids))).all()
        assert statuses == [InstanceStatus.COMPLETED] * 50
        completed_events = session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "task_completed")
        )
        assert completed_events == 50
        assert session.scalar(
            select(func.count(func.distinct(AuditEvent.task_id))).where(AuditEvent.action == "task_completed")
        ) == 50
        open_count = session.scalar(
            select(func.count()).select_from(HumanTask).where(HumanTask.state == TaskState.OPEN)
        )
        assert open_count == 0


#: two branches: completing ``a`` opens ``c``; ``b`` is completed meanwhile by another transaction
TWO_BRANCHES = definitions(process(
    "two_branches",
    '<bpmn:startEvent id="start" /><bpmn:parallelGateway id="fork" />'
    + user_task("a", "甲", formKey="note", department="quality")
    + user_task("b", "乙", formKey="note", department="quality")
    + user_task("c", "丙", formKey="note", department="quality")
    + '<bpmn:endEvent id="end_a" /><bpmn:endEvent id="end_b" />'
    + chain("start", "fork") + chain("fork", "a", "c", "end_a", prefix="a") + chain("fork", "b", "end_b", prefix="b"),
))


def test_a_completion_that_waited_for_the_lock_sees_the_tasks_the_other_one_opened(database):
    """The instance's open tasks come with the locking statement; when it had to wait for
    another completion of the same instance, they are read again: the task that completion
    opened has its row, and this one neither misses nor duplicates it."""
    with database.transaction() as session:
        ensure_departments(session)
        deploy(session, {"two_branches.bpmn": TWO_BRANCHES}, forms(), known_departments=known_department_names(session))
    runtime = WorkflowRuntime()
    with database.transaction() as session:
        instance_id = runtime.start(session, "two_branches", {}, Actor.system()).id
        by_element = {row.element_id: row.id for row in
                      session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id))}

    def complete_b() -> str:
        with database.transaction() as session:
            runtime.complete_task(session, by_element["b"], {"note": "b"}, Actor(None, "second"))
        return "ok"

    with ThreadPoolExecutor(1) as pool, database.transaction() as first:
        runtime.complete_task(first, by_element["a"], {"note": "a"}, Actor(None, "first"))
        first.flush()
        second = pool.submit(complete_b)
        with database.session() as watcher:  # the second completion waits for the instance lock
            for _ in range(300):
                waiting = watcher.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                                              " AND datname = current_database()"))
                if waiting:
                    break
                # the statistics views are a snapshot taken once per transaction: end it, or a
                # completion that connected after the first poll would never be seen waiting
                watcher.rollback()
                time.sleep(0.05)
            # if it never waited, say why: the second completion ended (and how) or what it waits on
            assert waiting, (second.done() and repr(second.exception()), watcher.execute(text(
                "SELECT state, wait_event_type, wait_event, left(query, 120) FROM pg_stat_activity"
                " WHERE datname = current_database()")).all())
        first.commit()
        assert second.result(timeout=60) == "ok"
    with database.session() as session:
        rows = session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id)).all()
        assert sorted((row.element_id, row.state) for row in rows) == [
            ("a", TaskState.COMPLETED), ("b", TaskState.COMPLETED), ("c", TaskState.OPEN)]


# ------------------------------------------------------------------ HTTP torture (issue 15, item 8)


@pytest.fixture
def torture_app(app, database):
    """The app's database with the torture diagram deployed (tests/reliability/torture.py)."""
    from app.formkit.definition import load_forms
    from app.services.approvals import KINDS
    from tests.reliability.torture import FIXTURES, torture_diagram

    with database.transaction() as session:
        deploy(session, {"torture.bpmn": torture_diagram()}, load_forms(FIXTURES / "forms"),
               known_departments=known_department_names(session), known_approvals=set(KINDS))
    return app


def test_http_torture_keeps_every_invariant(torture_app, database, tmp_path):
    """Two app servers, a timer firer and four client processes (claims, releases, completions,
    API and web approvals, delegations and recalls) on a few hot cases for TORTURE_SECONDS (20 s
    in `make test`, minutes in `make soak`); then every invariant holds."""
    import json

    from tests.reliability import torture

    seconds = float(os.environ.get("TORTURE_SECONDS", "20"))
    runtime = torture_app.extensions["runtime"]
    figures, answers = torture.run(database.url, tmp_path / "uploads", tmp_path, seconds,
                                   instances=8, database=database, runtime=runtime)
    assert sum(figures.requests.values()) > 20, figures.as_dict()
    assert figures.statuses[200] > 0, figures.as_dict()
    torture.finish_all(database, runtime)
    checked = torture.check_invariants(database, runtime, answers)
    print("TORTURE", json.dumps({**figures.as_dict(), "checked": checked}))
