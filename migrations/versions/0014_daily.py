"""Daily work: task drafts, files received on a failed try, case comments

Revision ID: 0014_daily
Revises: 0013_alerts
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.data.db

revision = "0014_daily"
down_revision = "0013_alerts"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade():
    op.create_table(
        "task_draft",
        sa.Column("task_id", sa.String(36), sa.ForeignKey("human_task.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("values", JSON, nullable=False),
        sa.Column("saved_at", app.data.db.UTCDateTime(), nullable=False),
    )
    op.create_table(
        "pending_upload",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(80), nullable=False),
        sa.Column("field", sa.String(63), nullable=False),
        sa.Column("file", JSON, nullable=False),
        sa.Column("created_at", app.data.db.UTCDateTime(), nullable=False),
    )
    op.create_index("ix_pending_upload_token_owner", "pending_upload", ["token", "owner"])
    op.create_index("ix_pending_upload_created_at", "pending_upload", ["created_at"])
    op.create_table(
        "case_comment",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("feedback_case.id", ondelete="CASCADE"), nullable=False),
        sa.Column("author_id", sa.Integer(), sa.ForeignKey("user_account.id", ondelete="SET NULL"), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("internal", sa.Boolean(), nullable=False),
        sa.Column("mentions", JSON, nullable=False),
        sa.Column("created_at", app.data.db.UTCDateTime(), nullable=False),
    )
    op.create_index("ix_case_comment_case_at", "case_comment", ["case_id", "created_at"])


def downgrade():
    op.drop_index("ix_case_comment_case_at", table_name="case_comment")
    op.drop_table("case_comment")
    op.drop_index("ix_pending_upload_created_at", table_name="pending_upload")
    op.drop_index("ix_pending_upload_token_owner", table_name="pending_upload")
    op.drop_table("pending_upload")
    op.drop_table("task_draft")
