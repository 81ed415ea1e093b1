"""Repeat flags: a row per case that matches earlier cases (``case_repeat``), so the repeat rate counts
the period's rows; the feedback type joins the match keys (a change of it re-flags the case); the case's digest of its
keys spares a save that changed none of them the read of ``case_match_key``

The flags are derived data: they are worked out here by the application's one definition
(``app.data.queries.analytics.refresh_repeats``) under the rules stored at the time.

Revision ID: 0020_repeat_flags
Revises: 0019_inbox_indexes
Create Date: 2026-11-30
"""
import json

import sqlalchemy as sa
from alembic import op
from sqlalchemy.orm import Session

import app.data.db

revision = "0020_repeat_flags"
down_revision = "0019_inbox_indexes"
branch_labels = None
depends_on = None

TYPE_KEYS = """
INSERT INTO case_match_key (case_id, kind, value, received_at)
SELECT id, 'type', substr(coalesce(feedback_type, ''), 1, 300), received_at FROM feedback_case
"""


def _rules(bind):
    from app.services import alert_rules
    from app.services.errors import InvalidInput

    stored = bind.execute(sa.text("SELECT value FROM app_setting WHERE key = :key"), {"key": alert_rules.KEY}).scalar()
    if isinstance(stored, str):
        stored = json.loads(stored)
    if not isinstance(stored, dict):
        return alert_rules.DEFAULT
    try:
        return alert_rules.parse(stored)
    except InvalidInput:
        return alert_rules.DEFAULT


def upgrade():
    op.create_table(
        "case_repeat",
        sa.Column("case_id", sa.Integer, sa.ForeignKey("feedback_case.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("received_at", app.data.db.UTCDateTime(), nullable=False),
    )
    op.create_index("ix_case_repeat_received", "case_repeat", ["received_at", "case_id"])
    # empty: the next save of each case compares its keys with its rows once and records the digest
    op.add_column("feedback_case", sa.Column("match_digest", sa.String(40), nullable=True))
    op.execute(sa.text("DELETE FROM case_match_key WHERE kind = 'type'"))
    op.execute(sa.text(TYPE_KEYS))
    from app.data.queries.analytics import refresh_repeats
    from app.services import alert_rules

    bind = op.get_bind()
    rules = _rules(bind)
    session = Session(bind=bind)
    refresh_repeats(session, None, alert_rules.repeat_rules(rules), rules.types)
    session.flush()
    if bind.dialect.name == "postgresql":
        op.execute(sa.text("ANALYZE case_repeat"))


def downgrade():
    with op.batch_alter_table("feedback_case") as batch:
        batch.drop_column("match_digest")
    op.drop_index("ix_case_repeat_received", table_name="case_repeat")
    op.drop_table("case_repeat")
    op.execute(sa.text("DELETE FROM case_match_key WHERE kind = 'type'"))
