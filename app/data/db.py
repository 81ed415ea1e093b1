"""Database engine and session factory (no Flask), with SQLite tuned for concurrent use."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, cast

from psycopg import ServerCursor
from sqlalchemy import DateTime, MetaData, create_engine, event
from sqlalchemy.engine import CursorResult, Engine, Result
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from app.data.pg_cursor import LazyDescriptionCursor

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every model; constraint names are stable for migrations."""

    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator):
    """Stores naive UTC, always hands back timezone-aware UTC datetimes."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str, **kwargs) -> Engine:
    """Create an engine; SQLite gets WAL, a busy timeout and foreign keys."""
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 10})
        if url in ("sqlite://", "sqlite:///:memory:"):
            from sqlalchemy.pool import StaticPool

            kwargs.setdefault("poolclass", StaticPool)
    else:
        # PostgreSQL's default plan cache (a statement psycopg prepared after a few runs may get a
        # generic plan), except for reads that search or rank: see _execute.
        # Its cursors describe a result's columns only when asked (app/data/pg_cursor.py).
        kwargs.setdefault("connect_args", {"options": "-c plan_cache_mode=auto",
                                           "cursor_factory": LazyDescriptionCursor})
        kwargs.setdefault("pool_pre_ping", True)
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        event.listen(engine, "do_execute", _execute)
    return engine


#: what makes a read one that searches or ranks
_SEARCHES = (" LIKE ", " ILIKE ", "@@", " OFFSET ")
_WRITES = ("INSERT INTO ", "UPDATE ", "DELETE FROM ")


def plans_per_run(statement: str, options: Any) -> bool:
    """Whether PostgreSQL must plan ``statement`` for its own values on every run: a read that
    searches (a pattern, a full-text match), pages or ranks (``ORDER BY`` with ``LIMIT``) — or any
    statement executed with ``execution_options(plan_per_run=True)``.

    Such a read's generic plan cannot see the pattern or the LIMIT: a case search went from 15 ms
    to 800 ms once psycopg had prepared it and PostgreSQL switched to that plan. Every other
    statement (key look-ups, the writes of an operation) may be prepared and its plan reused:
    planning the audit seal and the completion's reads each time was a third of PostgreSQL's CPU
    per completion (docs/benchmarks.md, "CPU per completion, third round").

    ``plan_per_run=False`` keeps the plan of a key look-up that only looks like a ranking (the
    newest row of one key: ``ORDER BY version DESC LIMIT 1``): the completion's task read, planned
    on every run for its newest-delegation subquery, was its slowest statement (2.7 ms, 1.2 ms
    with its plan kept; docs/benchmarks.md, "fourth round")."""
    chosen = options.get("plan_per_run")
    return bool(chosen) if chosen is not None else _searches_or_ranks(statement)


@functools.lru_cache(maxsize=4096)  # a statement's text is the compiled cache's: the same few recur
def _searches_or_ranks(statement: str) -> bool:
    head = statement[:12].split(None, 1)[0].upper() if statement.strip() else ""
    if head in ("INSERT", "UPDATE", "DELETE") or (head == "WITH" and any(w in statement for w in _WRITES)):
        return False
    return any(marker in statement for marker in _SEARCHES) or ("ORDER BY" in statement and "LIMIT" in statement)


def _execute(cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
    """psycopg runs ``statement`` unprepared when it must be planned per run (an unnamed statement
    is always planned with its parameters), else as it chooses (prepared after a few runs). A
    streamed read's server-side cursor (``DECLARE``) is never prepared: it takes no such choice."""
    if plans_per_run(statement, context.execution_options) and not isinstance(cursor, ServerCursor):
        cursor.execute(statement, parameters, prepare=False)
    else:
        cursor.execute(statement, parameters)
    return True


class Database:
    """An engine plus a session factory; one per process and database URL."""

    def __init__(self, url: str, **engine_kwargs) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.session_factory = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self) -> Session:
        return self.session_factory()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work commits on success and rolls back on any error."""
        session = self.session_factory()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()


def rowcount(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE executed through ``Session.execute`` touched (typed
    as a plain Result there, it is a CursorResult)."""
    return cast("CursorResult[Any]", result).rowcount
