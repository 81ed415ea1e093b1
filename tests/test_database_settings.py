"""Connection settings the app relies on."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from app.data.db import Database, plans_per_run
from app.data.models import Case


def prepared(conn) -> list[str]:
    return list(conn.scalars(text("SELECT statement FROM pg_prepared_statements")))


def test_a_read_that_searches_or_ranks_is_planned_for_its_own_values_every_time(database):
    """A search's generic plan cannot see its pattern or its LIMIT: a 15 ms case search took 800 ms
    from its 11th run once psycopg had prepared it. Such reads are never prepared; a key look-up
    is, so PostgreSQL stops planning it again on every run."""
    if database.dialect != "postgresql":
        pytest.skip("a PostgreSQL setting (TEST_DB=postgres)")
    other = Database(database.url)
    try:
        with other.engine.connect() as conn:
            assert conn.scalar(text("SHOW plan_cache_mode")) == "auto"
            search = (select(Case.id).where(Case.customer_name.ilike("%机电%"))
                      .order_by(Case.received_at.desc()).limit(20))
            ranked = select(Case.id).order_by(Case.received_at.desc()).limit(20)
            lookup = select(Case.id, Case.number).where(Case.id == 1)
            for _ in range(8):
                conn.execute(search).all()
                conn.execute(ranked).all()
                conn.execute(lookup).all()
                conn.execute(select(Case.id).where(Case.id == 2).execution_options(plan_per_run=True)).all()
            # a streamed read (a server-side cursor) that searches: planned for its values as well
            streamed = conn.execution_options(stream_results=True).execute(search)
            assert len(streamed.all()) == len(conn.execute(search).all())
            statements = prepared(conn)
            assert not [s for s in statements if "ILIKE" in s or "LIMIT" in s]
            assert [s for s in statements if "case_number" in s or "number" in s]  # the look-up
            assert len(statements) == 1, statements
    finally:
        other.dispose()


@pytest.mark.parametrize(("sql", "per_run"), [
    ("SELECT id FROM cases WHERE customer_name ILIKE %(p)s", True),
    ("SELECT id FROM cases WHERE number LIKE %(p)s", True),
    ("SELECT id FROM case_search WHERE document @@ to_tsquery(%(q)s)", True),
    ("SELECT id FROM cases ORDER BY received_at DESC LIMIT %(n)s", True),
    ("SELECT id FROM cases ORDER BY id LIMIT 10 OFFSET %(o)s", True),
    ("SELECT id, number FROM cases WHERE id = %(id)s", False),
    ("SELECT id FROM human_task WHERE id = %(id)s LIMIT %(n)s", False),  # a key, not a ranking
    ("INSERT INTO notification (user_id) VALUES (%(u)s)", False),
    ("UPDATE human_task SET state = %(s)s WHERE id = %(id)s", False),
    ("WITH RECURSIVE head AS (SELECT seq FROM audit_chain_head ORDER BY seq LIMIT 1) "
     "INSERT INTO audit_event (seq) SELECT seq FROM head", False),  # a write: its plan may be kept
    ("WITH top AS (SELECT id FROM cases ORDER BY received_at LIMIT 5) SELECT * FROM top", True),
])
def test_which_statements_are_planned_per_run(sql, per_run):
    assert plans_per_run(sql, {}) is per_run
    assert plans_per_run(sql, {"plan_per_run": True}) is True
    assert plans_per_run(sql, {"plan_per_run": False}) is False


def test_key_look_ups_that_look_like_rankings_keep_their_plans(database):
    """The newest version of a key and the completion's task read (its newest-delegation subquery
    has ORDER BY … LIMIT 1) are key look-ups: marked ``plan_per_run=False``, psycopg prepares
    them like any other look-up, so PostgreSQL stops planning them on every run."""
    if database.dialect != "postgresql":
        pytest.skip("a PostgreSQL setting (TEST_DB=postgres)")
    from app.engine.definitions.lookup import _LATEST_DEFINITION, _LATEST_FORM
    from app.services.tasks import _completion_read

    other = Database(database.url)
    try:
        with other.session() as session:
            for _ in range(8):
                session.execute(_LATEST_DEFINITION, {"key": "complaint"}).all()
                session.execute(_LATEST_FORM, {"key": "verify"}).all()
                session.execute(_completion_read("postgresql"), {"task_id": "none"}).all()
            statements = prepared(session.connection())
            assert len([s for s in statements if "FROM process_definition" in s and "LIMIT" in s]) == 1
            assert len([s for s in statements if "FROM form_definition" in s and "LIMIT" in s]) == 1
            assert len([s for s in statements if "task_delegation" in s and "FROM human_task" in s]) == 1
    finally:
        other.dispose()


def test_a_result_is_described_only_when_asked_and_as_psycopg_describes_it(database):
    """SQLAlchemy reads ``cursor.description`` after every statement but, for a statement whose
    result layout it has cached, only checks that there is one: the columns are built on first
    use (app/data/pg_cursor.py), the same columns psycopg's own cursor gives, even when the
    cursor has run another statement in between."""
    if database.dialect != "postgresql":
        pytest.skip("a PostgreSQL cursor (TEST_DB=postgres)")
    import psycopg

    from app.data.pg_cursor import LazyDescription, LazyDescriptionCursor

    sql = "SELECT 1 AS one, 'x'::varchar(12) AS name, now() AS at, NULL::numeric(8, 2) AS amount"
    with database.engine.connect() as conn:
        raw = conn.connection.driver_connection
        cursor = raw.cursor()
        assert isinstance(cursor, LazyDescriptionCursor)
        cursor.execute(sql)
        described = cursor.description
        assert isinstance(described, LazyDescription) and len(described) == 4
        cursor.execute("SELECT 2 AS two")  # the first result's description still describes it
        plain = psycopg.Cursor(raw)
        plain.execute(sql)
        expected = plain.description
        assert [tuple(c) for c in described] == [tuple(c) for c in expected]
        assert [c.name for c in described[-2:]] == ["at", "amount"]
        assert described[1].type_display == expected[1].type_display == "varchar(12)"
        cursor.execute("SET LOCAL work_mem = '4MB'")
        assert cursor.description is None and plain.description is not None
        cursor.execute("SELECT")  # no columns, but a result: described, and empty
        assert cursor.description is not None and len(cursor.description) == 0
        # SQLAlchemy on top: a text statement's columns (not cached) come from the description
        result = conn.execute(text(sql))
        assert list(result.keys()) == ["one", "name", "at", "amount"]
        assert result.one()[0] == 1
