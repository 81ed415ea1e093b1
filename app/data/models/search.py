"""The case search document: one row per case, the text that full-text search reads."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.clock import utcnow
from app.data.db import Base
from app.data.types import JSONType, UTCDateTime


class CaseSearch(Base):
    """What search finds a case by (``app.services.case_search`` writes it).

    ``texts`` keeps the free text of each completed task (task id → text), so the document can
    be rebuilt when a case column changes without reading workflows; ``document`` is the case's
    columns plus those texts. PostgreSQL indexes ``document`` with a pg_trgm GIN index; SQLite
    mirrors it into the FTS5 table ``case_search_fts`` (trigram tokenizer) by triggers — both
    created by migration 0015_search. ``short_terms`` holds the document's pairs of adjacent
    Chinese characters (``app.data.queries.search.short_terms``), for two-character words no
    trigram index serves: a GIN index over its words on PostgreSQL, the FTS5 table
    ``case_search_short`` on SQLite (migration 0018_search_speed).
    """

    __tablename__ = "case_search"

    case_id: Mapped[int] = mapped_column(ForeignKey("feedback_case.id", ondelete="CASCADE"), primary_key=True)
    texts: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict)
    document: Mapped[str] = mapped_column(Text, default="")
    short_terms: Mapped[str] = mapped_column(Text, default="", server_default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
