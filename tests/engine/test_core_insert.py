"""New task rows written by one Core INSERT per flush (app/data/core_insert.py): the same rows and
values the unit of work writes, persistent afterwards, taken out again by a rollback, and left
to the unit of work where it must apply a default."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import inspect

from app.data.models import HumanTask, ProcessInstance, TaskState
from tests.engine import diagram, statements_during

T0 = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)


def _flat(statements: list[str]) -> list[str]:
    return [" ".join(statement.split()) for statement in statements]


def _started(session, runtime, actor, deploy_sources) -> ProcessInstance:
    deploy_sources(diagram("review.bpmn"))
    started = runtime.start(session, "review", {"customer": "ACME"}, actor)
    session.commit()
    return started


def _task(instance: ProcessInstance, **values) -> HumanTask:
    """A task row with every column that has a default set (what the projection does)."""
    fields = {"id": str(uuid.uuid4()), "instance_id": instance.id, "process_key": instance.process_key,
              "element_id": "extra", "title": "Extra", "state": TaskState.OPEN, "priority": 2,
              "created_at": T0, "context": {"stage": "Extra"}, "customer_name": "ACME", **values}
    return HumanTask(**fields)


def _stored(database, task_id: str) -> dict | None:
    with database.session() as other:
        row = other.get(HumanTask, task_id)
        return None if row is None else {c.key: getattr(row, c.key) for c in inspect(HumanTask).column_attrs}


def test_an_opened_task_is_inserted_by_one_statement_and_held_as_stored(session, runtime, actor, deploy_sources,
                                                                      database):
    instance = _started(session, runtime, actor, deploy_sources)
    row = _task(instance)
    session.add(row)
    statements = _flat(statements_during(session, session.flush))
    assert [s for s in statements if s.startswith("INSERT")] == [statements[0]]
    assert statements[0].startswith("INSERT INTO human_task")
    state = inspect(row)
    assert state.persistent and not state.modified and row not in session.new
    # every column is held: reading them needs no statement
    values = {}
    assert statements_during(session, lambda: values.update(
        {c.key: getattr(row, c.key) for c in inspect(HumanTask).column_attrs})) == []
    assert values["due_at"] is None and values["customer_name"] == "ACME"
    session.commit()
    assert _stored(database, row.id) == values
    # a later change is an ordinary UPDATE of the stored row
    row.priority = 5
    session.commit()
    assert _stored(database, row.id)["priority"] == 5


def test_several_rows_of_one_flush_go_in_one_statement(session, runtime, actor, deploy_sources, database):
    instance = _started(session, runtime, actor, deploy_sources)
    rows = [_task(instance, element_id=f"extra_{n}") for n in range(3)]
    session.add_all(rows)
    statements = _flat(statements_during(session, session.flush))
    assert sum(s.startswith("INSERT INTO human_task") for s in statements) == 1
    session.commit()
    assert [_stored(database, row.id)["element_id"] for row in rows] == ["extra_0", "extra_1", "extra_2"]


def test_a_rolled_back_savepoint_takes_the_rows_out_of_the_session(session, runtime, actor, deploy_sources,
                                                                  database):
    instance = _started(session, runtime, actor, deploy_sources)
    kept, dropped = _task(instance, element_id="kept"), _task(instance, element_id="dropped")
    session.add(kept)
    session.flush()
    savepoint = session.begin_nested()
    session.add(dropped)
    session.flush()
    assert inspect(dropped).persistent
    savepoint.rollback()
    assert not inspect(dropped).persistent and dropped not in session
    session.commit()
    assert _stored(database, kept.id)["element_id"] == "kept"
    assert _stored(database, dropped.id) is None


def test_a_rolled_back_transaction_leaves_nothing(session, runtime, actor, deploy_sources, database):
    instance = _started(session, runtime, actor, deploy_sources)
    row = _task(instance)
    session.add(row)
    session.flush()
    session.rollback()
    assert row not in session
    assert _stored(database, row.id) is None


def test_a_default_left_unset_is_applied_by_the_unit_of_work(session, runtime, actor, deploy_sources, database):
    instance = _started(session, runtime, actor, deploy_sources)
    row = _task(instance)
    del row.priority, row.state  # the columns' Python defaults: 0 and open
    session.add(row)
    session.commit()
    stored = _stored(database, row.id)
    assert (stored["priority"], stored["state"]) == (0, TaskState.OPEN)
