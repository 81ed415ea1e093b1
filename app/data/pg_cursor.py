"""psycopg's client cursor with a description built only when it is read.

psycopg builds ``cursor.description`` (one ``Column`` per result column, each decoding its name
and looking up its type) on every access. SQLAlchemy reads it after every statement, but for a
compiled statement whose result layout it has cached it only checks that there is one: about 90
columns per reference completion were described for nothing, 9 % of its Python calls
(docs/benchmarks.md, "CPU per completion, fourth round")."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, overload

from psycopg import Column, Cursor
from psycopg.pq import ExecStatus

_TUPLES = (ExecStatus.TUPLES_OK, ExecStatus.SINGLE_TUPLE, ExecStatus.TUPLES_CHUNK)


class _Described:
    """What ``Column`` reads of a cursor, as it was when the description was asked for (the
    cursor may have run another statement by the time the columns are built)."""

    __slots__ = ("_encoding", "adapters", "pgresult")

    def __init__(self, cursor: Cursor[Any]) -> None:
        self.pgresult = cursor.pgresult
        self.adapters = cursor.adapters
        self._encoding = cursor._encoding


class LazyDescription(Sequence[Any]):
    """The columns of one result, described on first use; ``len`` needs no description."""

    __slots__ = ("_columns", "_source")

    def __init__(self, cursor: Cursor[Any]) -> None:
        self._source: _Described | None = _Described(cursor)
        self._columns: list[Any] = []

    def _built(self) -> list[Any]:
        if self._source is not None:
            source, self._source = self._source, None
            self._columns = [Column(source, i) for i in range(source.pgresult.nfields)]  # type: ignore[arg-type, union-attr]
        return self._columns

    def __len__(self) -> int:
        return len(self._columns) if self._source is None else self._source.pgresult.nfields  # type: ignore[union-attr]

    @overload
    def __getitem__(self, index: int) -> Any: ...

    @overload
    def __getitem__(self, index: slice) -> list[Any]: ...

    def __getitem__(self, index: int | slice) -> Any:
        return self._built()[index]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._built())

    def __repr__(self) -> str:
        return repr(self._built())


class LazyDescriptionCursor(Cursor[Any]):
    """The connection's cursor (``cursor_factory``): psycopg's own but for ``description``."""

    @property
    def description(self) -> LazyDescription | None:  # type: ignore[override]
        res = self.pgresult
        # as psycopg: columns if the result has fields, or if it said it returned tuples ("SELECT ;")
        if res and (res.nfields or res.status in _TUPLES):
            return LazyDescription(self)
        return None
