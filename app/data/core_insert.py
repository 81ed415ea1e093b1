"""The new rows of some models written by one Core ``INSERT`` each flush, outside the unit of work.

The unit of work's insert of one new object — sorting its dependencies, collecting its
parameters, running the mapper's insert, committing the state — cost about 1 ms of CPU for a
task row (each completion opens one), several times the statement itself. Before a flush
(:func:`_insert_before_flush`), the pending objects of the models registered here are inserted
with their table's Core statement (one per model, executemany for several rows) and registered as
the flush registers what it inserted: persistent with nothing left to write, and remembered as
new in the transaction, so a rollback (a savepoint's included) takes them out of the session.

Kept as the unit of work does it: a model's rows wait for the unit of work whenever one of them
leaves a column with a default unset (the default is the unit of work's to apply), or another
object of the same flush is one their foreign keys may point to (its table has a pending row:
the unit of work orders the inserts), or the flush is of chosen objects only. Objects of other
tables that point to these rows are inserted after them, by the unit of work, as before.

This module imports only SQLAlchemy and the models it is given (:func:`register`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, insert, inspect
from sqlalchemy.orm import Mapper, Session
from sqlalchemy.orm.attributes import instance_state


@dataclass(frozen=True)
class _Model:
    table: Any  # the mapped table
    columns: dict[str, str]  # attribute key -> column key
    defaulted: frozenset[str]  # attribute keys whose column has a default
    references: frozenset[Any]  # the tables its foreign keys point to


_MODELS: dict[type, _Model] = {}


def register(*models: type) -> None:
    """Have the pending objects of ``models`` inserted by one Core statement per flush (models with
    no relationships: their rows are plain column values)."""
    for model in models:
        mapper: Mapper[Any] = inspect(model)
        if mapper.relationships:
            raise ValueError(f"{model.__name__} has relationships: its inserts stay with the unit of work")
        columns = {prop.key: prop.columns[0] for prop in mapper.column_attrs}
        _MODELS[model] = _Model(
            table=mapper.local_table,
            columns={key: column.key for key, column in columns.items()},
            defaulted=frozenset(key for key, column in columns.items()
                                if column.default is not None or column.server_default is not None),
            references=frozenset(fk.column.table for fk in mapper.local_table.foreign_keys),
        )


def _insert_before_flush(session: Session, _context: Any, objects: Any) -> None:
    if not _MODELS or objects is not None or not session.new:
        return
    pending: defaultdict[type, list[Any]] = defaultdict(list)
    for obj in session.new:
        pending[type(obj)].append(obj)
    new_tables: set[Any] = {inspect(kind).local_table for kind in pending}
    for kind, found in pending.items():
        model = _MODELS.get(kind)
        if model is None or model.references & new_tables:
            continue
        rows = [row for obj in found if (row := _row(model, obj)) is not None]
        if len(rows) < len(found):
            continue
        session.execute(insert(model.table), rows)
        # what the flush does with the objects it inserted (a private API: no public one
        # registers rows written outside the unit of work)
        session._register_persistent({instance_state(obj) for obj in found})


def _row(model: _Model, obj: Any) -> dict[str, Any] | None:
    """The column values of a pending object; None if it leaves a defaulted column unset."""
    values = obj.__dict__
    if not model.defaulted <= values.keys():
        return None
    for key in model.columns:
        if key not in values:
            setattr(obj, key, None)  # written as NULL (what the unit of work writes) and held as loaded
    return {column: values[key] for key, column in model.columns.items()}


event.listen(Session, "before_flush", _insert_before_flush)

__all__ = ["register"]
