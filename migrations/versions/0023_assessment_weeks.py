"""The list of weekly assessments reads a row per assessment (``assessment_week``: its week,
status, whether its rows are computed, the departments it charges) instead of loading every
assessment's workflow. Rows are kept with each save of an assessment; ``flask migrate`` fills
them for the assessments that exist (``app.services.assessment_weeks.backfill``: it needs the
engine).

Revision ID: 0023_assessment_weeks
Revises: 0022_drop_timer_jobs
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

import app.data.types

revision = "0023_assessment_weeks"
down_revision = "0022_drop_timer_jobs"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "assessment_week",
        sa.Column("instance_id", sa.Integer, sa.ForeignKey(
            "process_instance.id", ondelete="CASCADE", name=op.f("fk_assessment_week_instance_id_process_instance"),
        ), nullable=False),
        sa.Column("week_start", sa.Date, nullable=True),
        sa.Column("week_end", sa.Date, nullable=True),
        sa.Column("status", sa.String(40), nullable=True),
        sa.Column("computed", sa.Boolean, nullable=False),
        sa.Column("departments", app.data.types.JSONType, nullable=False),
        sa.PrimaryKeyConstraint("instance_id", name=op.f("pk_assessment_week")),
    )


def downgrade():
    op.drop_table("assessment_week")
