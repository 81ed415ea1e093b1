"""PostgreSQL: the single-row UPDATEs of one flush (task and instance, case and search document)
sent as one statement (app/data/merged_updates.py) — the same rows and values as the unit of work
writes, the instance's version check kept, and nothing merged on SQLite."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import event, select

from app.clock import clock
from app.data.models import HumanTask, ProcessInstance, TaskState
from app.engine.errors import ConcurrentUpdate
from tests.engine import diagram, open_tasks, statements_during

T0 = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)


def _started(session, runtime, actor, deploy_sources):
    deploy_sources(diagram("review.bpmn"))
    started = runtime.start(session, "review", {"customer": "ACME"}, actor)
    session.commit()
    (task,) = open_tasks(session, started.id)
    return started, task


def test_the_task_and_its_instance_are_updated_together_with_the_version_check(
        session, runtime, actor, deploy_sources, database):
    started, task = _started(session, runtime, actor, deploy_sources)
    version = started.lock_version
    session.expire_all()
    instance = session.get(ProcessInstance, started.id)
    row = session.get(HumanTask, task.id)
    clock.set(T0)
    try:
        row.state, row.completed_at = TaskState.COMPLETED, clock.now()
        instance.state, instance.updated_at = instance.state + " ", clock.now()
        statements = statements_during(session, session.flush)
    finally:
        clock.reset()
    updates = [s for s in statements if "UPDATE" in s]
    if database.dialect == "postgresql":
        assert len(statements) == 1 and updates[0].lstrip().startswith("WITH")
    else:
        assert len(updates) == 2
    assert instance.lock_version == version + 1
    session.commit()
    with database.session() as other:
        stored = other.get(ProcessInstance, started.id)
        assert (stored.lock_version, stored.state, stored.updated_at) == (version + 1, instance.state, T0)
        done = other.get(HumanTask, task.id)
        assert (done.state, done.completed_at) == (TaskState.COMPLETED, T0)


def test_a_row_changed_meanwhile_is_refused_and_nothing_is_written(session, runtime, actor, deploy_sources, database):
    started, task = _started(session, runtime, actor, deploy_sources)
    session.expire_all()
    instance = session.get(ProcessInstance, started.id)
    row = session.get(HumanTask, task.id)
    with database.transaction() as other:  # someone else saves the instance first
        other.get(ProcessInstance, started.id).state += "  "
    row.state = TaskState.COMPLETED
    instance.state = instance.state + " "
    with pytest.raises(ConcurrentUpdate):
        runtime._flush(session)
    session.rollback()
    with database.session() as other:
        assert other.get(HumanTask, task.id).state == TaskState.OPEN
        assert other.scalar(select(ProcessInstance.state).where(ProcessInstance.id == started.id)).endswith("  ")


def test_a_column_updated_on_every_write_is_written_as_the_unit_of_work_writes_it():
    from app.data.merged_updates import _MODELS
    from app.data.models import Case, CaseSearch

    clock.set(T0)
    try:
        for model in (Case, CaseSearch):
            [(key, default)] = _MODELS[model].onupdate
            assert key == "updated_at" and default.arg(None) == T0
        assert _MODELS[ProcessInstance].version == "lock_version" and _MODELS[HumanTask].version is None
    finally:
        clock.reset()


def test_rows_fully_written_by_the_merge_leave_nothing_to_the_unit_of_work(
        session, runtime, actor, deploy_sources, database):
    started, task = _started(session, runtime, actor, deploy_sources)
    session.expire_all()
    instance = session.get(ProcessInstance, started.id)
    row = session.get(HumanTask, task.id)
    row.state = TaskState.COMPLETED
    instance.state = instance.state + " "
    instance.status = instance.status  # set to the value it had: nothing to write, as for the unit of work
    flushes: list[int] = []
    event.listen(session, "after_flush", lambda *_args: flushes.append(1))
    session.flush()
    assert not session.dirty and instance.state.endswith(" ") and row.state == TaskState.COMPLETED
    # PostgreSQL: written by the merged statement, so the unit of work had no work (no after_flush)
    assert flushes == ([] if database.dialect == "postgresql" else [1])
    session.commit()
    with database.session() as other:
        assert other.get(HumanTask, task.id).state == TaskState.COMPLETED
        assert other.get(ProcessInstance, started.id).state == instance.state


def test_a_savepoint_rolled_back_expires_the_rows_the_merge_wrote(session, runtime, actor, deploy_sources):
    started, task = _started(session, runtime, actor, deploy_sources)
    instance = session.get(ProcessInstance, started.id)
    row = session.get(HumanTask, task.id)
    version = instance.lock_version
    savepoint = session.begin_nested()
    row.state = TaskState.COMPLETED
    instance.state = instance.state + " "
    session.flush()
    savepoint.rollback()
    # as after the unit of work's own UPDATEs: the rows are read again, as the database has them
    assert row.state == TaskState.OPEN and instance.lock_version == version
    assert not instance.state.endswith(" ")


def test_a_row_with_a_relationship_changed_stays_with_the_unit_of_work(
        session, runtime, actor, deploy_sources, database):
    started, task = _started(session, runtime, actor, deploy_sources)
    session.expire_all()
    instance = session.get(ProcessInstance, started.id)
    row = session.get(HumanTask, task.id)
    definition = instance.definition
    row.state = TaskState.COMPLETED
    instance.state = instance.state + " "
    instance.definition = definition  # a relationship set: the unit of work's business
    session.flush()
    assert not session.dirty
    session.commit()
    with database.session() as other:
        assert other.get(HumanTask, task.id).state == TaskState.COMPLETED
        assert other.get(ProcessInstance, started.id).state == instance.state
