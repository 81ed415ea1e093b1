"""Full-text case search with the database's own text index.

A query is split into words; a case matches when its search document (``case_search``)
contains every word as a substring, case-insensitively. Which index serves a word:

- three characters or more: the trigram index — ``ILIKE`` (``LIKE`` for a word without case)
  served by the pg_trgm GIN index on PostgreSQL (Chinese included, with a UTF-8 ``LC_CTYPE``),
  an FTS5 ``MATCH`` on the trigram table ``case_search_fts`` on SQLite;
- two Chinese characters (letters or digits outside ASCII without case, :func:`indexed_pair`):
  the document's pairs of adjacent such characters, ``case_search.short_terms``
  (:func:`short_terms`) — ``LIKE '% 漏油 %'`` served by a pg_trgm GIN index on PostgreSQL (the
  pairs are space-bounded words there, so each has trigrams of its own), the FTS5 table
  ``case_search_short`` on SQLite. The document's trigram index cannot serve two characters;
- anything else shorter (one character, ``E2``, ``12``): a plain ``LIKE`` over the documents.

Two shapes of the same condition (:func:`search_condition`): ``index`` lets the indexes
produce the matching cases (SQLite: the FTS tables drive a join, so that a ``LIMIT`` stops them
early), ``scan`` checks each case it is given (newest first, for a word so common that the
first page is among the newest cases). Both find exactly the same cases.
"""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import Select, and_, column, exists, literal, select, table, true
from sqlalchemy.sql.elements import ColumnElement

from app.data.models import Case, CaseSearch

#: the trigram tokenizer indexes three characters at a time
TRIGRAM = 3
MAX_WORDS = 8
Shape = Literal["index", "scan"]

_FTS = table("case_search_fts", column("rowid"), column("case_search_fts"))
_SHORT_FTS = table("case_search_short", column("rowid"), column("case_search_short"))


def like_pattern(value: str) -> str:
    return "%" + value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _pair_char(char: str) -> bool:
    """A character the two-character index holds: a letter or digit outside ASCII without case
    (Chinese, Japanese kana, fullwidth digits) — the same whatever the case folding."""
    return not char.isascii() and char.isalnum() and char.lower() == char.upper()


def indexed_pair(word: str) -> bool:
    """Whether a two-character word is served by ``short_terms`` instead of a scan."""
    return len(word) == 2 and all(_pair_char(char) for char in word)


def short_terms(document: str) -> str:
    """The document's two-character index terms: every distinct pair of adjacent characters
    that :func:`indexed_pair` accepts, sorted (the same text for the same set), each with a
    space before and after it (`` 制板 控制 ``)."""
    pairs = sorted(pair for pair in {document[i:i + 2] for i in range(len(document) - 1)} if indexed_pair(pair))
    return f" {' '.join(pairs)} " if pairs else ""


def search_words(query: str) -> list[str]:
    """The words of a query (whitespace separates them; at most :data:`MAX_WORDS`)."""
    return [word for word in query.split() if word][:MAX_WORDS]


def _value(text: str) -> Any:
    # Rendered into the statement at execution (quoted by the dialect), not sent as a parameter:
    # PostgreSQL then plans every search for its own pattern. With a parameter, the driver's
    # prepared statement soon gets a generic plan that cannot see the pattern and scans every
    # document instead of asking the trigram index.
    return literal(text, literal_execute=True)


def _caseless(word: str) -> bool:
    return word.lower() == word.upper()


def _contains(word: str, sqlite: bool) -> ColumnElement[bool]:
    """``document`` contains ``word``, checked on the row (no index). SQLite's LIKE is already
    case-insensitive for ASCII — its ILIKE would be ``lower() LIKE lower()``, several times slower
    — and exact for a word without case; LIKE is also much cheaper than ILIKE over Chinese text."""
    pattern = _value(like_pattern(word))
    if sqlite or _caseless(word):
        return CaseSearch.document.like(pattern, escape="\\")
    return CaseSearch.document.ilike(pattern, escape="\\")


def _phrase(word: str) -> str:
    return '"' + word.replace('"', '""') + '"'  # an FTS5 string: no query syntax


def _fts_same_as_like(word: str) -> bool:
    """SQLite: LIKE finds what the trigram table finds (both fold ASCII case only, or there is no
    case to fold); otherwise (É, Ω) the row check asks the FTS table itself."""
    return word.isascii() or _caseless(word)


def _pg_condition(words: list[str], shape: Shape) -> ColumnElement[bool]:
    conditions: list[ColumnElement[bool]] = []
    for word in words:
        if indexed_pair(word) and shape == "index":
            # " 漏油 " in short_terms: the pg_trgm index holds the pair's own trigrams (" 漏油",
            # "漏油 ") — pairs are space-bounded there — where the document's trigrams cannot serve
            conditions.append(CaseSearch.short_terms.like(_value(f"% {word} %")))
        else:
            conditions.append(_contains(word, sqlite=False))
    return and_(*conditions)


def _sqlite_index(stmt: Select, words: list[str]) -> Select:
    """One FTS table drives: the trigram table with every long word's phrase, else the pair table
    with every pair; the other words are checked on the document of each case it yields (a second
    FTS table probed case by case costs far more than a LIKE)."""
    long = [word for word in words if len(word) >= TRIGRAM]
    pairs = [word for word in words if indexed_pair(word)]
    if long:
        fts, column_, driving = _FTS, _FTS.c.case_search_fts, long
    elif pairs:
        fts, column_, driving = _SHORT_FTS, _SHORT_FTS.c.case_search_short, pairs
    else:
        driving = []
    if driving:
        stmt = stmt.join(fts, fts.c.rowid == Case.id).where(
            column_.op("MATCH", is_comparison=True)(_value(" AND ".join(map(_phrase, driving)))))
    if rest := [word for word in words if word not in driving]:
        # neither long (those are all in the MATCH) nor with case outside ASCII: LIKE is exact
        stmt = stmt.join(CaseSearch, CaseSearch.case_id == Case.id).where(
            *(_contains(word, sqlite=True) for word in rest))
    return stmt


def _sqlite_row(word: str) -> ColumnElement[bool]:
    if len(word) >= TRIGRAM and not _fts_same_as_like(word):
        return exists(select(_FTS.c.rowid).where(
            _FTS.c.case_search_fts.op("MATCH", is_comparison=True)(_value(_phrase(word))), _FTS.c.rowid == Case.id))
    return _contains(word, sqlite=True)


def search_condition(stmt: Select, query: str, dialect: str, shape: Shape = "index") -> Select:
    """``stmt`` (a select of cases) limited to the cases ``query`` finds, in the given shape."""
    words = search_words(query)
    if not words:
        return stmt
    if dialect == "sqlite":
        if shape == "index":
            return _sqlite_index(stmt, words)
        return stmt.where(exists(select(true()).where(CaseSearch.case_id == Case.id, *map(_sqlite_row, words))))
    # PostgreSQL plans both shapes alike (a semi-join it may drive from the index or from the
    # cases): the pattern is in the statement, so it can estimate how many cases match
    return stmt.where(exists(select(true()).where(CaseSearch.case_id == Case.id, _pg_condition(words, shape))))
