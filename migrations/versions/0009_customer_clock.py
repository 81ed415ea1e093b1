"""feedback_case: the customer's clock (first answer and resolution due times, when they were
met, the outcome for the reports, the current state) and the customer's e-mail language;
email_outbox: the case and kind of e-mails to customers

Cases opened before this revision are not tracked (``clock_state`` stays NULL): their past
answers were never recorded, so a clock started now would measure them wrongly.

Revision ID: 0009_customer_clock
Revises: 0008_task_access
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

import app.data.db

revision = "0009_customer_clock"
down_revision = "0008_task_access"
branch_labels = None
depends_on = None

UTC = app.data.db.UTCDateTime
INDEXED = ("first_answer_due_at", "resolution_due_at", "clock_state", "clock_state_until")


def upgrade():
    with op.batch_alter_table("feedback_case") as batch:
        batch.add_column(sa.Column("customer_locale", sa.String(8), nullable=False, server_default="zh"))
        batch.add_column(sa.Column("first_answer_due_at", UTC(), nullable=True))
        batch.add_column(sa.Column("first_answer_at", UTC(), nullable=True))
        batch.add_column(sa.Column("first_answer_met", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("first_answer_minutes", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("resolution_due_at", UTC(), nullable=True))
        batch.add_column(sa.Column("resolved_at", UTC(), nullable=True))
        batch.add_column(sa.Column("resolution_met", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("resolution_minutes", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("clock_paused_at", UTC(), nullable=True))
        batch.add_column(sa.Column("clock_paused_minutes", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("clock_state", sa.String(16), nullable=True))
        batch.add_column(sa.Column("clock_state_until", UTC(), nullable=True))
    for column in INDEXED:
        op.create_index(f"ix_feedback_case_{column}", "feedback_case", [column])
    with op.batch_alter_table("email_outbox") as batch:
        batch.add_column(sa.Column("case_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("kind", sa.String(30), nullable=True))
        batch.create_foreign_key("fk_email_outbox_case_id_feedback_case", "feedback_case", ["case_id"], ["id"], ondelete="SET NULL")
    op.create_index("ix_email_outbox_case_id", "email_outbox", ["case_id"])


def downgrade():
    op.drop_index("ix_email_outbox_case_id", table_name="email_outbox")
    with op.batch_alter_table("email_outbox") as batch:
        batch.drop_constraint("fk_email_outbox_case_id_feedback_case", type_="foreignkey")
        batch.drop_column("kind")
        batch.drop_column("case_id")
    for column in INDEXED:
        op.drop_index(f"ix_feedback_case_{column}", table_name="feedback_case")
    with op.batch_alter_table("feedback_case") as batch:
        for column in ("clock_state_until", "clock_state", "clock_paused_minutes", "clock_paused_at",
                       "resolution_minutes", "resolution_met", "resolved_at", "resolution_due_at",
                       "first_answer_minutes", "first_answer_met", "first_answer_at", "first_answer_due_at",
                       "customer_locale"):
            batch.drop_column(column)
