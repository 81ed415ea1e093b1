"""PostgreSQL: the single-row UPDATEs of one flush sent as one statement.

An operation's flush typically updates a few rows of different tables — the completed task and
its instance (the instance's versioned UPDATE is its concurrency check), or the case and its
search document — each of which the unit of work sends as a statement of its own. Before such a
flush (:func:`_merge_before_flush`), the changed column values of the dirty rows of the models
registered here are written by one statement: each row's ``UPDATE … RETURNING`` is a
data-modifying CTE, and the statement returns how many rows each one changed. The rows' values
are then marked as stored (as the flush marks them), so the unit of work finds nothing left to
write for them and goes on with the rest (inserts, deletes, other tables) as before, in the same
transaction.

What the unit of work would have done is kept: the values it would have sent (an ``onupdate``
column such as ``updated_at`` included); the version counter of a versioned model (the row is
updated only where it still has the version read, and a row not updated raises
:class:`~sqlalchemy.orm.exc.StaleDataError` as the flush does); the order of the rows (by table
and key) so the statement's cached compiled form is reused. A row whose new values point to a
row inserted in the same flush (a foreign key) is left to the unit of work, as is everything on
SQLite (no data-modifying CTEs), a flush with only one such row and one with more than
:data:`MAX_ROWS`.

This module imports only SQLAlchemy and the models it is given (:func:`register`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, event, func, inspect, literal, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

_MODELS: set[type] = set()
#: at most this many rows in one statement (an operation's few rows; a flush of many rows of one
#: table — a cancellation closing all tasks — is left to the unit of work's batched UPDATE)
MAX_ROWS = 6


def register(*models: type) -> None:
    """Have the single-row UPDATEs of ``models`` merged (models with a one-column key)."""
    for model in models:
        mapper: Any = inspect(model)
        if len(mapper.primary_key) != 1 or len(mapper.tables) != 1:
            raise ValueError(f"{model.__name__}: only single-table models with a one-column key")
        _MODELS.add(model)


def _changes(obj: Any, new_tables: set[Table]) -> dict[str, Any] | None:
    """The column values the flush would write for ``obj`` (by attribute key), ``{}`` for none,
    None when the row must be left to the unit of work."""
    state = inspect(obj)
    mapper = state.mapper
    values: dict[str, Any] = {}
    for prop in mapper.column_attrs:
        history = state.attrs[prop.key].history
        if not history.added:
            continue
        column = prop.columns[0]
        if column.primary_key:
            return None  # a changed key: the unit of work's business
        if any(fk.column.table in new_tables for fk in column.foreign_keys):
            return None  # may point to a row this flush inserts
        values[prop.key] = history.added[0]
    if values and mapper.version_id_col is not None:
        version = state.attrs[mapper.get_property_by_column(mapper.version_id_col).key].loaded_value
        if not isinstance(version, int):
            return None
    if values and any(c.onupdate is not None and not (c.onupdate.is_scalar or c.onupdate.is_callable)
                      for c in mapper.local_table.columns):
        return None  # an onupdate SQL expression: the unit of work's business
    return values


def _merge_before_flush(session: Session, _context: Any, _instances: Any) -> None:
    if not _MODELS or session.get_bind().dialect.name != "postgresql":
        return
    candidates = [obj for obj in session.dirty if type(obj) in _MODELS]
    if not 2 <= len(candidates) <= MAX_ROWS:
        return
    new_tables = {table for obj in session.new for table in inspect(obj).mapper.tables}
    rows: list[tuple[Any, dict[str, Any]]] = []
    for obj in candidates:
        if obj in session.deleted:
            continue
        found = _changes(obj, new_tables)
        if found is None:
            return  # keep the flush as the unit of work does it
        if found:
            rows.append((obj, found))
    if len(rows) < 2:
        return
    rows.sort(key=lambda row: (type(row[0]).__name__, str(inspect(row[0]).identity)))
    ctes, written = [], []
    for n, (obj, values) in enumerate(rows):
        mapper = inspect(obj).mapper
        table = mapper.local_table
        key_column = mapper.primary_key[0]
        params = {mapper.get_property_by_column(c).key: v for c, v in _column_values(mapper, values).items()}
        stmt = update(table).where(key_column == inspect(obj).identity[0])
        version = mapper.version_id_col
        if version is not None:
            version_key = mapper.get_property_by_column(version).key
            old = inspect(obj).attrs[version_key].loaded_value
            new_version = mapper.version_id_generator(old)
            stmt = stmt.where(version == old)
            params[version_key] = new_version
        stmt = stmt.values({mapper.columns[key]: value for key, value in params.items()})
        ctes.append(stmt.returning(literal(1)).cte(f"w{n}"))
        written.append((obj, params))
    counts = session.execute(select(*(select(func.count()).select_from(c).scalar_subquery() for c in ctes))).one()
    for (obj, params), count in zip(written, counts, strict=True):
        if count != 1:
            raise StaleDataError(
                f"UPDATE statement on table '{inspect(obj).mapper.local_table.name}' expected to update 1 row(s); "
                f"{count} were matched.")
        for key, value in params.items():
            set_committed_value(obj, key, value)


def _column_values(mapper: Any, values: dict[str, Any]) -> dict[Any, Any]:
    """``values`` by column, with the Python ``onupdate`` values of columns not set (as the
    flush adds them)."""
    by_column = {mapper.get_property(key).columns[0]: value for key, value in values.items()}
    for column in mapper.local_table.columns:
        if column in by_column or column.onupdate is None or mapper.version_id_col is column:
            continue
        onupdate = column.onupdate
        by_column[column] = onupdate.arg if onupdate.is_scalar else onupdate.arg(None)
    return by_column


event.listen(Session, "before_flush", _merge_before_flush)

__all__ = ["register"]
