"""Full-text case search with the database's own text index.

A query is split into words; a case matches when its search document (``case_search``)
contains every word as a substring, case-insensitively. Words of three characters or more use
the trigram index: ``ILIKE`` served by the pg_trgm GIN index on PostgreSQL (Chinese included,
with a UTF-8 ``LC_CTYPE``), an FTS5 ``MATCH`` on the trigram table on SQLite. Shorter words
(a trigram index cannot serve them) fall back to a plain ``LIKE`` on the document.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, literal
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from app.data.models import Case

#: the trigram tokenizer indexes three characters at a time
TRIGRAM = 3
MAX_WORDS = 8


def like_pattern(value: str) -> str:
    return "%" + value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _like(pattern_sql: str, operator: str) -> str:
    return ("(SELECT case_search.case_id FROM case_search "  # noqa: S608 - a bound parameter only
            f"WHERE case_search.document {operator} {pattern_sql} ESCAPE '\\')")


class _ContainingIds(FunctionElement[Any]):
    """``(SELECT the ids of cases whose document contains the pattern)`` without the index:
    ILIKE, but a plain LIKE on SQLite (already case-insensitive for ASCII; its ILIKE would be
    ``lower(document) LIKE lower(…)``, several times slower over every document)."""

    name = "case_search_containing"
    inherit_cache = True
    #: the operator on PostgreSQL (a class attribute, so that it is part of the statement cache key)
    operator = "ILIKE"


class _ContainingIdsCaseless(_ContainingIds):
    """For a word without upper/lower case (Chinese, digits, signs): LIKE is exact and much
    cheaper than ILIKE over multibyte text."""

    inherit_cache = True
    operator = "LIKE"


@compiles(_ContainingIds)
def _containing_default(element: _ContainingIds, compiler: Any, **kw: Any) -> str:
    (pattern,) = list(element.clauses)
    return _like(compiler.process(pattern, **kw), element.operator)


@compiles(_ContainingIds, "sqlite")
def _containing_sqlite(element: _ContainingIds, compiler: Any, **kw: Any) -> str:
    (pattern,) = list(element.clauses)
    return _like(compiler.process(pattern, **kw), "LIKE")


class _MatchingIds(FunctionElement[Any]):
    """``(SELECT the ids of cases whose document contains the word)`` through the trigram
    index, compiled per database: pg_trgm's GIN index serves LIKE and ILIKE on PostgreSQL, an
    FTS5 phrase MATCH on SQLite. Used as the right side of ``case id IN``, a comparison (a bare
    boolean function would get ``= 1`` appended on SQLite, which hides the index)."""

    name = "case_search_ids"
    inherit_cache = True
    operator = "ILIKE"


class _MatchingIdsCaseless(_MatchingIds):
    inherit_cache = True
    operator = "LIKE"


@compiles(_MatchingIds)
def _ids_default(element: _MatchingIds, compiler: Any, **kw: Any) -> str:
    _phrase, pattern = list(element.clauses)
    return _like(compiler.process(pattern, **kw), element.operator)


@compiles(_MatchingIds, "sqlite")
def _ids_sqlite(element: _MatchingIds, compiler: Any, **kw: Any) -> str:
    phrase, _pattern = list(element.clauses)
    return f"(SELECT rowid FROM case_search_fts WHERE case_search_fts MATCH {compiler.process(phrase, **kw)})"  # noqa: S608


def search_words(query: str) -> list[str]:
    """The words of a query (whitespace separates them; at most :data:`MAX_WORDS`)."""
    return [word for word in query.split() if word][:MAX_WORDS]


def _value(text: str) -> Any:
    # Rendered into the statement at execution (quoted by the dialect), not sent as a parameter:
    # PostgreSQL then plans every search for its own pattern. With a parameter, the driver's
    # prepared statement soon gets a generic plan that cannot see the pattern and scans every
    # document instead of asking the trigram index.
    return literal(text, literal_execute=True)


def word_condition(word: str) -> ColumnElement[bool]:
    caseless = word.lower() == word.upper()
    ids: FunctionElement[Any]
    if len(word) >= TRIGRAM:
        phrase = '"' + word.replace('"', '""') + '"'  # an FTS5 string: no query syntax
        ids = (_MatchingIdsCaseless if caseless else _MatchingIds)(_value(phrase), _value(like_pattern(word)))
    else:
        ids = (_ContainingIdsCaseless if caseless else _ContainingIds)(_value(like_pattern(word)))
    return Case.id.op("IN", is_comparison=True)(ids)


def case_matches(query: str) -> ColumnElement[bool] | None:
    """The condition on ``feedback_case`` for a search query (None: the query has no words)."""
    words = search_words(query)
    return and_(*(word_condition(word) for word in words)) if words else None
