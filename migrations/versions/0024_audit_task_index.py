"""A task's completion events found by the task: a partial index on ``audit_event (task_id, id)``
for ``action = 'task_completed'``. The documents, the task pages' earlier data, the 8D rounds and
four-eyes read what a task was completed with; without it each such read scanned every completion
of the trail (49 ms at 800,000 completions, and 228 ms for the newest-first ordering that grouped
them all: docs/benchmarks.md, "The audit trail at volume").

Revision ID: 0024_audit_task_index
Revises: 0023_assessment_weeks
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

revision = "0024_audit_task_index"
down_revision = "0023_assessment_weeks"
branch_labels = None
depends_on = None

COMPLETIONS = sa.text("action = 'task_completed'")


def upgrade():
    op.create_index("ix_audit_event_task_completed", "audit_event", ["task_id", "id"],
                    postgresql_where=COMPLETIONS, sqlite_where=COMPLETIONS)


def downgrade():
    op.drop_index("ix_audit_event_task_completed", table_name="audit_event")
