"""PostgreSQL: the single-row UPDATEs of one flush sent as one statement.

An operation's flush typically updates a few rows of different tables — the completed task and
its instance (the instance's versioned UPDATE is its concurrency check), or the case and its
search document — each of which the unit of work sends as a statement of its own. Before such a
flush (:func:`_merge_before_flush`), the changed column values of the dirty rows of the models
registered here are written by one statement: each row's ``UPDATE … RETURNING`` is a
data-modifying CTE, and the statement returns how many rows each one changed. The rows' values
are then marked as stored (as the flush marks them): a row with nothing else changed is marked
clean, so the unit of work does not handle it at all (a flush with no other row to write ends
there), and one with more (a relationship) goes on to it with only that left; the rest (inserts,
deletes, other tables) is written as before, in the same transaction.

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

import functools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, bindparam, event, func, inspect, literal_column, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import instance_state, set_committed_value
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.orm.state import InstanceState

#: at most this many rows in one statement (an operation's few rows; a flush of many rows of one
#: table — a cancellation closing all tasks — is left to the unit of work's batched UPDATE)
MAX_ROWS = 6


@dataclass(frozen=True)
class _Model:
    """What the merge needs of a registered model, worked out once."""

    table: Table
    key: Any  # the key column
    columns: dict[str, Any]  # attribute key -> column, of the plain (non-key) columns
    foreign: dict[str, frozenset[Table]]  # attribute key -> tables its foreign keys point to
    onupdate: tuple[tuple[str, Any], ...]  # attribute key, Python onupdate default
    version: str | None  # the version counter's attribute key
    version_of: Any  # the mapper's version generator


_MODELS: dict[type, _Model] = {}


def register(*models: type) -> None:
    """Have the single-row UPDATEs of ``models`` merged (models with a one-column key and no SQL
    ``onupdate`` expression)."""
    for model in models:
        mapper: Any = inspect(model)
        if len(mapper.primary_key) != 1 or len(mapper.tables) != 1:
            raise ValueError(f"{model.__name__}: only single-table models with a one-column key")
        columns, foreign, onupdate = {}, {}, []
        version = mapper.version_id_col
        for prop in mapper.column_attrs:
            column = prop.columns[0]
            if column.primary_key:
                continue
            columns[prop.key] = column
            foreign[prop.key] = frozenset(fk.column.table for fk in column.foreign_keys)
            if column.onupdate is not None and column is not version:
                if not (column.onupdate.is_scalar or column.onupdate.is_callable):
                    raise ValueError(f"{model.__name__}.{prop.key}: a SQL onupdate expression")
                onupdate.append((prop.key, column.onupdate))
        _MODELS[model] = _Model(
            mapper.local_table, mapper.primary_key[0], columns, foreign, tuple(onupdate),
            mapper.get_property_by_column(version).key if version is not None else None,
            mapper.version_id_generator)


def _changes(state: Any, model: _Model, new_tables: set[Table]) -> dict[str, Any] | None:
    """The column values the flush would write for the row (by attribute key, the ``onupdate``
    ones added), ``{}`` for none, None when the row must be left to the unit of work."""
    values: dict[str, Any] = {}
    for key in state.committed_state:  # the attributes changed since the row was loaded
        column = model.columns.get(key)
        if column is None:
            if key in state.mapper.column_attrs:
                return None  # a changed key: the unit of work's business
            continue  # a relationship
        history = state.manager[key].impl.get_history(state, state.dict)
        if not history.added:
            continue
        if model.foreign[key] & new_tables:
            return None  # may point to a row this flush inserts
        values[key] = history.added[0]
    if not values:
        return values
    for key, default in model.onupdate:
        if key not in values:
            values[key] = default.arg if default.is_scalar else default.arg(None)
    return values


@functools.lru_cache(maxsize=256)
def _statement(shape: tuple[tuple[type, tuple[str, ...]], ...]) -> Any:
    """One statement for rows of ``shape`` (each row's model and the attributes it writes): row
    ``n``'s UPDATE as CTE ``w<n>`` (key ``k<n>``, old version ``v<n>``, values ``p<n>_<key>``),
    returning how many rows each changed. Built once per shape, so its cache key is too."""
    ctes = []
    for n, (model_class, keys) in enumerate(shape):
        model = _MODELS[model_class]
        stmt = update(model.table).where(model.key == bindparam(f"k{n}"))
        if model.version is not None:
            stmt = stmt.where(model.columns[model.version] == bindparam(f"v{n}"))
        stmt = stmt.values({model.columns[key]: bindparam(f"p{n}_{key}", type_=model.columns[key].type)
                            for key in keys})
        ctes.append(stmt.returning(literal_column("1")).cte(f"w{n}"))
    return select(*(select(func.count()).select_from(cte).scalar_subquery() for cte in ctes))


def _merge_before_flush(session: Session, _context: Any, _instances: Any) -> None:
    if not _MODELS or session.get_bind().dialect.name != "postgresql":
        return
    candidates = [obj for obj in session.dirty if type(obj) in _MODELS]
    if not 2 <= len(candidates) <= MAX_ROWS:
        return
    added = session.new
    new_tables: set[Any] = {table for obj in added for table in instance_state(obj).mapper.tables} if added else set()
    deleted = session.deleted
    rows: list[tuple[Any, Any, _Model, dict[str, Any]]] = []
    for obj in candidates:
        if obj in deleted:
            continue
        state = instance_state(obj)
        model = _MODELS[type(obj)]
        found = _changes(state, model, new_tables)
        if found is None:
            return  # keep the flush as the unit of work does it
        if found:
            if model.version is not None:
                old = state.committed_state.get(model.version, state.dict.get(model.version))
                if not isinstance(old, int) or model.version in found:
                    return
                found[model.version] = model.version_of(old)
                found["__old_version"] = old
            rows.append((obj, state, model, found))
    if len(rows) < 2:
        return
    _write(session, rows)


def _write(session: Session, rows: list[tuple[Any, Any, _Model, dict[str, Any]]]) -> None:
    """Send the rows' UPDATEs as one statement and mark what they wrote as stored."""
    rows.sort(key=lambda row: (type(row[0]).__name__, str(row[1].identity)))
    params: dict[str, Any] = {}
    shape = []
    for n, (_obj, state, model, found) in enumerate(rows):
        old_version = found.pop("__old_version", None)
        keys = tuple(sorted(found))
        shape.append((type(_obj), keys))
        params[f"k{n}"] = state.identity[0]
        if model.version is not None:
            params[f"v{n}"] = old_version
        params.update({f"p{n}_{key}": found[key] for key in keys})
    counts = session.execute(_statement(tuple(shape)), params).one()
    for (obj, _state, model, found), count in zip(rows, counts, strict=True):
        if count != 1:
            raise StaleDataError(
                f"UPDATE statement on table '{model.table.name}' expected to update 1 row(s); {count} were matched.")
        for key, value in found.items():
            set_committed_value(obj, key, value)
    # A row with nothing left to write is marked clean as the flush marks the rows it wrote, and
    # remembered as changed in the transaction (a savepoint's rollback expires it): the unit of
    # work then has no work for it at all — with no other row to write, the flush ends here
    # instead of going through its whole machinery. Left: only columns set to the value they had
    # (which the unit of work would not write either); a changed relationship stays its business.
    written = [state for _obj, state, model, _found in rows
               if all(key in model.columns for key in state.committed_state)]
    if written:
        InstanceState._commit_all_states(((state, state.dict) for state in written), session.identity_map)
        session._register_altered(written)


event.listen(Session, "before_flush", _merge_before_flush)

__all__ = ["register"]
