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
