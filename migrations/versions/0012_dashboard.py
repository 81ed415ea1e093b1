"""Dashboard: root causes, match keys and assessment lines projected; a task's stage; indexes by period

Revision ID: 0012_dashboard
Revises: 0011_security
Create Date: 2026-11-30
"""
import json

import sqlalchemy as sa
from alembic import op

import app.data.db

revision = "0012_dashboard"
down_revision = "0011_security"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_feedback_case_closed_at", "feedback_case", ["closed_at"]),
    ("ix_feedback_case_status_received", "feedback_case", ["status", "received_at"]),
    ("ix_human_task_department_case", "human_task", ["department_id", "case_id"]),
    ("ix_human_task_completed_at", "human_task", ["completed_at", "department_id"]),
    ("ix_human_task_charge_due", "human_task", ["lateness_charge", "due_at"]),
)


def upgrade():
    op.create_table(
        "case_root_cause",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("feedback_case.id", ondelete="CASCADE"), nullable=False),
        sa.Column("department_id", sa.Integer(), sa.ForeignKey("department.id", ondelete="SET NULL"), nullable=True),
        sa.Column("category", sa.String(30), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("task_id", sa.String(36), nullable=True),
        sa.Column("received_at", app.data.db.UTCDateTime(), nullable=False),
        sa.Column("recorded_at", app.data.db.UTCDateTime(), nullable=False),
    )
    op.create_index("ix_case_root_cause_received", "case_root_cause", ["received_at", "category"])
    op.create_index("ix_case_root_cause_case", "case_root_cause", ["case_id", "source"])
    op.create_table(
        "case_match_key",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("feedback_case.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("value", sa.String(300), nullable=False),
        sa.Column("received_at", app.data.db.UTCDateTime(), nullable=False),
    )
    op.create_index("ix_case_match_key_lookup", "case_match_key", ["kind", "value", "received_at"])
    op.create_index("ix_case_match_key_case", "case_match_key", ["case_id"])
    op.create_table(
        "assessment_line",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("instance_id", sa.Integer(), sa.ForeignKey("process_instance.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("week_start", sa.Date(), nullable=False),
        sa.Column("case_number", sa.String(32), nullable=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("feedback_case.id", ondelete="SET NULL"), nullable=True),
        sa.Column("department_id", sa.Integer(), sa.ForeignKey("department.id", ondelete="SET NULL"), nullable=True),
        sa.Column("measure_penalty", sa.Numeric(12, 2), nullable=False),
        sa.Column("execution_penalty", sa.Numeric(12, 2), nullable=False),
        sa.Column("logistics_cost", sa.Numeric(12, 2), nullable=False),
    )
    op.create_index("ix_assessment_line_week", "assessment_line", ["week_start", "department_id"])
    op.create_index("ix_assessment_line_instance", "assessment_line", ["instance_id"])
    with op.batch_alter_table("human_task") as batch:
        batch.add_column(sa.Column("stage", sa.String(100), nullable=True))
    # tasks projected before this revision: the stage the projection kept in the context (JSON)
    human_task = sa.table("human_task", sa.column("id", sa.String), sa.column("title", sa.String),
                          sa.column("stage", sa.String), sa.column("context", sa.JSON))
    conn = op.get_bind()
    for row in conn.execute(sa.select(human_task.c.id, human_task.c.title, human_task.c.context)).all():
        context = row.context if isinstance(row.context, dict) else json.loads(row.context or "{}")
        stage = str(context.get("stage") or row.title or "")[:100] or None
        conn.execute(human_task.update().where(human_task.c.id == row.id).values(stage=stage))
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade():
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    with op.batch_alter_table("human_task") as batch:
        batch.drop_column("stage")
    for table in ("assessment_line", "case_match_key", "case_root_cause"):
        op.drop_table(table)
