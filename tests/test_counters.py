"""Counters (case numbers, the calendar's version, the weekly assessment's once-per-week guard):
one statement creates a counter at 1 or increments it; on PostgreSQL, parallel transactions each
get their own value, none lost, none twice."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import event

from app.services.cases import next_counter
from tests.conftest import BACKEND


def test_a_counter_starts_at_one_and_counts_up_in_one_statement(database):
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_rest) -> None:
        statements.append(statement)

    with database.transaction() as s:
        event.listen(database.engine, "before_cursor_execute", count)
        try:
            assert [next_counter(s, "test:a") for _ in range(3)] == [1, 2, 3]
        finally:
            event.remove(database.engine, "before_cursor_execute", count)
        assert next_counter(s, "test:b") == 1
    assert len(statements) == 3
    with database.transaction() as s:
        assert next_counter(s, "test:a") == 4


@pytest.mark.skipif(BACKEND != "postgres", reason="parallel writers need PostgreSQL row locks (TEST_DB=postgres)")
def test_parallel_transactions_each_get_their_own_number(database):
    def one(_index: int) -> int:
        with database.transaction() as s:
            return next_counter(s, "test:parallel")

    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(one, range(40)))
    assert sorted(got) == list(range(1, 41))
