"""A task's completion events found by the task: a partial index on ``audit_event (task_id, id)``
for ``action = 'task_completed'``. The documents, the task pages' earlier data, the 8D rounds and
four-eyes read what a task was completed with; without it each such read scanned every completion
of the trail (49 ms at 800,000 completions, and 228 ms for the newest-first ordering that grouped
them all: docs/benchmarks.md, "The audit trail at volume").

On PostgreSQL the index is built ``CONCURRENTLY``, outside the migration's transaction: the audit
trail is the largest table, every operation writes to it, and a plain ``CREATE INDEX`` would hold
off every completion until the build had read the whole trail. A build that was interrupted
leaves an invalid index behind; running the migration again drops it and builds anew.

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

NAME = "ix_audit_event_task_completed"
COMPLETIONS = sa.text("action = 'task_completed'")


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        op.create_index(NAME, "audit_event", ["task_id", "id"], sqlite_where=COMPLETIONS)
        return
    with op.get_context().autocommit_block():
        invalid = op.get_bind().scalar(sa.text(
            "SELECT count(*) FROM pg_index JOIN pg_class ON pg_class.oid = pg_index.indexrelid "
            "WHERE pg_class.relname = :name AND NOT pg_index.indisvalid"), {"name": NAME})
        if invalid:
            op.drop_index(NAME, table_name="audit_event", postgresql_concurrently=True)
        op.create_index(NAME, "audit_event", ["task_id", "id"], postgresql_where=COMPLETIONS,
                        postgresql_concurrently=True, if_not_exists=True)


def downgrade():
    op.drop_index(NAME, table_name="audit_event")
