"""Counting and paging any select."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session


def count_rows(session: Session, stmt: Select) -> int:
    """The number of rows ``stmt`` would return (ignoring its ordering)."""
    return session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0


def page_of(session: Session, stmt: Select, page: int, size: int) -> tuple[Sequence, int]:
    """One page (1-based) of ``stmt``'s scalar rows and the total row count."""
    total = count_rows(session, stmt)
    rows = session.scalars(stmt.limit(size).offset(max(page - 1, 0) * size)).all()
    return rows, total


def count_capped(session: Session, stmt: Select, cap: int) -> tuple[int, bool]:
    """The rows ``stmt`` would return, counted up to ``cap``: (count, exact). A search that
    matches a fifth of 100,000 cases stops counting early instead of reading every match."""
    counted = count_rows(session, stmt.limit(cap + 1))
    return min(counted, cap), counted <= cap


def page_of_search(session: Session, stmt: Select, page: int, size: int, cap: int) -> tuple[Sequence, int, bool]:
    """Like :func:`page_of`, the total counted up to ``cap`` (see :func:`count_capped`)."""
    total, exact = count_capped(session, stmt, cap)
    rows = session.scalars(stmt.limit(size).offset(max(page - 1, 0) * size)).all()
    return rows, total, exact
