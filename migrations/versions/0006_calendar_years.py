"""calendar year confirmations: an admin confirmed a year's announced 调休 days are entered

Revision ID: 0006_calendar_years
Revises: 0005_merge
Create Date: 2026-11-29
"""
import sqlalchemy as sa
from alembic import op

import app.data.db

revision = "0006_calendar_years"
down_revision = "0005_merge"
branch_labels = None
depends_on = None

UTC = app.data.db.UTCDateTime


def upgrade():
    op.create_table(
        "calendar_year_confirmation",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("confirmed_by_id", sa.Integer(), nullable=True),
        sa.Column("confirmed_at", UTC(), nullable=False),
        sa.ForeignKeyConstraint(["confirmed_by_id"], ["user_account.id"], ondelete="SET NULL",
                                name=op.f("fk_calendar_year_confirmation_confirmed_by_id_user_account")),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_calendar_year_confirmation")),
    )


def downgrade():
    op.drop_table("calendar_year_confirmation")
