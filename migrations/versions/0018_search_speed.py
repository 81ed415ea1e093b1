"""Case search at 100,000 cases: an index for two-character Chinese words, which no trigram index
serves — ``case_search.short_terms`` holds each document's pairs of adjacent Chinese characters
(``app.data.queries.search.short_terms``: space-bounded, so each pair has trigrams of its own),
indexed by a pg_trgm GIN index on PostgreSQL and the FTS5 table ``case_search_short`` on
SQLite (the ``ascii`` tokenizer: every non-ASCII character is part of a word, so each pair is
one token, exactly). The existing documents get their pairs here. SQLite's triggers now index
a document only when it changed.

Revision ID: 0018_search_speed
Revises: 0017_analytics_speed
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

revision = "0018_search_speed"
down_revision = "0017_analytics_speed"
branch_labels = None
depends_on = None

BATCH = 2000

SQLITE_TRIGGERS = [
    "CREATE TRIGGER case_search_ai AFTER INSERT ON case_search BEGIN "
    "INSERT INTO case_search_fts(rowid, document) VALUES (new.case_id, new.document); "
    "INSERT INTO case_search_short(rowid, short_terms) VALUES (new.case_id, new.short_terms); END",
    "CREATE TRIGGER case_search_ad AFTER DELETE ON case_search BEGIN "
    "INSERT INTO case_search_fts(case_search_fts, rowid, document) VALUES ('delete', old.case_id, old.document); "
    "INSERT INTO case_search_short(case_search_short, rowid, short_terms) "
    "VALUES ('delete', old.case_id, old.short_terms); END",
    "CREATE TRIGGER case_search_au AFTER UPDATE OF document ON case_search BEGIN "
    "INSERT INTO case_search_fts(case_search_fts, rowid, document) VALUES ('delete', old.case_id, old.document); "
    "INSERT INTO case_search_fts(rowid, document) VALUES (new.case_id, new.document); END",
    "CREATE TRIGGER case_search_su AFTER UPDATE OF short_terms ON case_search BEGIN "
    "INSERT INTO case_search_short(case_search_short, rowid, short_terms) "
    "VALUES ('delete', old.case_id, old.short_terms); "
    "INSERT INTO case_search_short(rowid, short_terms) VALUES (new.case_id, new.short_terms); END",
]
#: as 0015_search made them
OLD_SQLITE_TRIGGERS = [
    "CREATE TRIGGER case_search_ai AFTER INSERT ON case_search BEGIN "
    "INSERT INTO case_search_fts(rowid, document) VALUES (new.case_id, new.document); END",
    "CREATE TRIGGER case_search_ad AFTER DELETE ON case_search BEGIN "
    "INSERT INTO case_search_fts(case_search_fts, rowid, document) VALUES ('delete', old.case_id, old.document); END",
    "CREATE TRIGGER case_search_au AFTER UPDATE ON case_search BEGIN "
    "INSERT INTO case_search_fts(case_search_fts, rowid, document) VALUES ('delete', old.case_id, old.document); "
    "INSERT INTO case_search_fts(rowid, document) VALUES (new.case_id, new.document); END",
]


def _pair_char(char: str) -> bool:
    return not char.isascii() and char.isalnum() and char.lower() == char.upper()


def short_terms(document: str) -> str:
    """A copy of ``app.data.queries.search.short_terms`` as of this revision."""
    pairs = sorted(p for p in {document[i:i + 2] for i in range(len(document) - 1)} if all(map(_pair_char, p)))
    return f" {' '.join(pairs)} " if pairs else ""


def _fill_short_terms() -> None:
    bind = op.get_bind()
    table = sa.table("case_search", sa.column("case_id", sa.Integer), sa.column("document", sa.Text),
                     sa.column("short_terms", sa.Text))
    last = 0
    while True:
        rows = bind.execute(sa.select(table.c.case_id, table.c.document).where(table.c.case_id > last)
                            .order_by(table.c.case_id).limit(BATCH)).all()
        if not rows:
            return
        bind.execute(table.update().where(table.c.case_id == sa.bindparam("id"))
                     .values(short_terms=sa.bindparam("terms")),
                     [{"id": row.case_id, "terms": short_terms(row.document or "")} for row in rows])
        last = rows[-1].case_id


def upgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for name in ("case_search_au", "case_search_ad", "case_search_ai"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.add_column("case_search", sa.Column("short_terms", sa.Text(), nullable=False, server_default=""))
    _fill_short_terms()
    if dialect == "postgresql":
        op.execute("CREATE INDEX ix_case_search_short_terms_trgm ON case_search USING gin (short_terms gin_trgm_ops)")
        op.execute("ANALYZE case_search")
    elif dialect == "sqlite":
        op.execute("CREATE VIRTUAL TABLE case_search_short USING fts5(short_terms, content='case_search', "
                   "content_rowid='case_id', tokenize='ascii')")
        op.execute("INSERT INTO case_search_short(case_search_short) VALUES ('rebuild')")
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for name in ("case_search_su", "case_search_au", "case_search_ad", "case_search_ai"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS case_search_short")
        with op.batch_alter_table("case_search") as batch:
            batch.drop_column("short_terms")
        for statement in OLD_SQLITE_TRIGGERS:
            op.execute(statement)
    else:
        op.execute("DROP INDEX IF EXISTS ix_case_search_short_terms_trgm")
        op.drop_column("case_search", "short_terms")
