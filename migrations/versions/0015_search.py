"""Case search: a search document per case (case columns and the free text of completed tasks),
indexed by the database's own text search — pg_trgm GIN on PostgreSQL, an FTS5 table with the
trigram tokenizer on SQLite (kept in step by triggers). Existing cases are indexed by
``flask migrate`` afterwards (``app.services.case_search.backfill``: it needs the forms).

Revision ID: 0015_search
Revises: 0014_daily
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.data.db

revision = "0015_search"
down_revision = "0014_daily"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

SQLITE_FTS = [
    # external content: the text is stored once, in case_search; the FTS table keeps the index
    "CREATE VIRTUAL TABLE case_search_fts USING fts5(document, content='case_search', "
    "content_rowid='case_id', tokenize='trigram')",
    "CREATE TRIGGER case_search_ai AFTER INSERT ON case_search BEGIN "
    "INSERT INTO case_search_fts(rowid, document) VALUES (new.case_id, new.document); END",
    "CREATE TRIGGER case_search_ad AFTER DELETE ON case_search BEGIN "
    "INSERT INTO case_search_fts(case_search_fts, rowid, document) VALUES ('delete', old.case_id, old.document); END",
    "CREATE TRIGGER case_search_au AFTER UPDATE ON case_search BEGIN "
    "INSERT INTO case_search_fts(case_search_fts, rowid, document) VALUES ('delete', old.case_id, old.document); "
    "INSERT INTO case_search_fts(rowid, document) VALUES (new.case_id, new.document); END",
]


def upgrade():
    dialect = op.get_bind().dialect.name
    op.create_table(
        "case_search",
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("feedback_case.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("texts", JSON, nullable=False),
        sa.Column("document", sa.Text(), nullable=False, server_default=""),
        sa.Column("updated_at", app.data.db.UTCDateTime(), nullable=False),
    )
    if dialect == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute("CREATE INDEX ix_case_search_document_trgm ON case_search USING gin (document gin_trgm_ops)")
    elif dialect == "sqlite":
        version = tuple(int(part) for part in op.get_bind().exec_driver_sql("select sqlite_version()").scalar().split("."))
        if version < (3, 34, 0):
            raise RuntimeError("case search needs SQLite 3.34 or newer (FTS5 trigram tokenizer)")
        for statement in SQLITE_FTS:
            op.execute(statement)


def downgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for name in ("case_search_au", "case_search_ad", "case_search_ai"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS case_search_fts")
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_case_search_document_trgm")
    op.drop_table("case_search")
