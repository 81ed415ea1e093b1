"""Full-text case search with the database's own text index.

A query is split into words; a case matches when its search document (``case_search``)
contains every word as a substring, case-insensitively. Words of three characters or more use
the trigram index: ``ILIKE`` served by the pg_trgm GIN index on PostgreSQL (Chinese included,
with a UTF-8 ``LC_CTYPE``), an FTS5 ``MATCH`` on the trigram table on SQLite. Shorter words
(a trigram index cannot serve them) fall back to a plain ``LIKE`` on the document.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, literal, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import Boolean

from app.data.models import Case, CaseSearch

#: the trigram tokenizer indexes three characters at a time
TRIGRAM = 3
MAX_WORDS = 8


def like_pattern(value: str) -> str:
    return "%" + value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class _TrigramMatch(FunctionElement[Any]):
    """``case id IN (cases whose document contains the word)``, compiled per database."""

    name = "case_trigram_match"
    type = Boolean()
    inherit_cache = True


@compiles(_TrigramMatch)
def _match_default(element: _TrigramMatch, compiler: Any, **kw: Any) -> str:
    case_id, _phrase, pattern = list(element.clauses)
    # only compiled fragments (a column and bound parameters) are put into the text
    return (f"{compiler.process(case_id, **kw)} IN (SELECT case_search.case_id FROM case_search "  # noqa: S608
            f"WHERE case_search.document ILIKE {compiler.process(pattern, **kw)} ESCAPE '\\')")


@compiles(_TrigramMatch, "sqlite")
def _match_sqlite(element: _TrigramMatch, compiler: Any, **kw: Any) -> str:
    case_id, phrase, _pattern = list(element.clauses)
    return (f"{compiler.process(case_id, **kw)} IN (SELECT rowid FROM case_search_fts "  # noqa: S608
            f"WHERE case_search_fts MATCH {compiler.process(phrase, **kw)})")


def search_words(query: str) -> list[str]:
    """The words of a query (whitespace separates them; at most :data:`MAX_WORDS`)."""
    return [word for word in query.split() if word][:MAX_WORDS]


def word_condition(word: str) -> ColumnElement[bool]:
    if len(word) >= TRIGRAM:
        phrase = '"' + word.replace('"', '""') + '"'  # an FTS5 string: no query syntax
        return _TrigramMatch(Case.id, literal(phrase), literal(like_pattern(word)))
    return Case.id.in_(select(CaseSearch.case_id).where(CaseSearch.document.ilike(like_pattern(word), escape="\\")))


def case_matches(query: str) -> ColumnElement[bool] | None:
    """The condition on ``feedback_case`` for a search query (None: the query has no words)."""
    words = search_words(query)
    return and_(*(word_condition(word) for word in words)) if words else None
