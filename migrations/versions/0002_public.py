"""public side: rate-limit ledger of web submissions, satisfaction survey answers

Revision ID: 0002_public
Revises: 0001
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

import app.data.db

revision = "0002_public"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "public_submission",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_ip", sa.String(length=64), nullable=False),
        sa.Column("at", app.data.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_public_submission")),
    )
    op.create_index("ix_public_submission_ip_at", "public_submission", ["client_ip", "at"], unique=False)
    op.create_index(op.f("ix_public_submission_at"), "public_submission", ["at"], unique=False)
    op.create_table(
        "survey_response",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("at", app.data.db.UTCDateTime(), nullable=False),
        sa.CheckConstraint("score >= 1 AND score <= 5", name=op.f("ck_survey_response_score_range")),
        sa.ForeignKeyConstraint(
            ["case_id"], ["feedback_case.id"], name=op.f("fk_survey_response_case_id_feedback_case"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_response")),
        sa.UniqueConstraint("case_id", name=op.f("uq_survey_response_case_id")),
    )


def downgrade():
    op.drop_table("survey_response")
    op.drop_index(op.f("ix_public_submission_at"), table_name="public_submission")
    op.drop_index("ix_public_submission_ip_at", table_name="public_submission")
    op.drop_table("public_submission")
