"""APScheduler's job table dropped: timers are fired from ``process_instance.next_due_at`` by the
active scheduler's timer loop (``app/scheduler/timers.py``) and its other jobs are held in memory,
so nothing reads or writes ``apscheduler_jobs`` any more. The downgrade creates it again, empty
(the earlier code wrote a timer's row with the instance's next save).

Revision ID: 0022_drop_timer_jobs
Revises: 0021_cycle_rollup
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

revision = "0022_drop_timer_jobs"
down_revision = "0021_cycle_rollup"
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index("ix_apscheduler_jobs_next_run_time", table_name="apscheduler_jobs")
    op.drop_table("apscheduler_jobs")


def downgrade():
    op.create_table(
        "apscheduler_jobs",
        sa.Column("id", sa.Unicode(191), nullable=False),
        sa.Column("next_run_time", sa.Float(25), nullable=True),
        sa.Column("job_state", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_apscheduler_jobs")),
    )
    op.create_index("ix_apscheduler_jobs_next_run_time", "apscheduler_jobs", ["next_run_time"])
