"""Cycle times of sealed months counted in advance: ``cycle_month`` (the months done: the watermark)
and ``cycle_rollup`` (per month, stage, department and duration in tenths of an hour: how many case
tasks completed), filled by ``app.services.analytics.rollup`` (a scheduler job, ``flask
cycle-rollup``), never on the task-completion path. Triggers on ``human_task`` drop the month of
a completed task that is inserted, changed (state, times, stage, department, case) or deleted, so
a month's counts are never read stale: the reports read that month's tasks until it is filled
again. A task completes "now", so an ordinary completion fires none of them.

Revision ID: 0021_cycle_rollup
Revises: 0020_repeat_flags
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

import app.data.db

revision = "0021_cycle_rollup"
down_revision = "0020_repeat_flags"
branch_labels = None
depends_on = None

#: the advisory lock a fill takes exclusively and the triggers shared (``app.data.queries.analytics.ROLLUP_LOCK``)
ROLLUP_LOCK = 727100021
CHANGED = ("NEW.state IS DISTINCT FROM OLD.state OR NEW.completed_at IS DISTINCT FROM OLD.completed_at "
           "OR NEW.created_at IS DISTINCT FROM OLD.created_at OR NEW.stage IS DISTINCT FROM OLD.stage "
           "OR NEW.department_id IS DISTINCT FROM OLD.department_id OR NEW.case_id IS DISTINCT FROM OLD.case_id")

PG_TRIGGERS = f"""
CREATE FUNCTION cycle_month_stale() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock_shared({ROLLUP_LOCK});
  IF TG_OP <> 'INSERT' THEN
    DELETE FROM cycle_month WHERE month_start <= OLD.completed_at AND OLD.completed_at < month_end;
  END IF;
  IF TG_OP <> 'DELETE' THEN
    DELETE FROM cycle_month WHERE month_start <= NEW.completed_at AND NEW.completed_at < month_end;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER cycle_month_stale_insert AFTER INSERT ON human_task
  FOR EACH ROW WHEN (NEW.state = 'completed') EXECUTE FUNCTION cycle_month_stale();
CREATE TRIGGER cycle_month_stale_update AFTER UPDATE ON human_task
  FOR EACH ROW WHEN (OLD.state = 'completed' AND ({CHANGED})) EXECUTE FUNCTION cycle_month_stale();
CREATE TRIGGER cycle_month_stale_delete AFTER DELETE ON human_task
  FOR EACH ROW WHEN (OLD.state = 'completed') EXECUTE FUNCTION cycle_month_stale();
"""
PG_DROP = """
DROP TRIGGER IF EXISTS cycle_month_stale_insert ON human_task;
DROP TRIGGER IF EXISTS cycle_month_stale_update ON human_task;
DROP TRIGGER IF EXISTS cycle_month_stale_delete ON human_task;
DROP FUNCTION IF EXISTS cycle_month_stale();
"""


def _sqlite_drop(row: str) -> str:
    return (f"DELETE FROM cycle_rollup WHERE month_start IN (SELECT month_start FROM cycle_month "
            f"WHERE month_start <= {row}.completed_at AND {row}.completed_at < month_end); "
            f"DELETE FROM cycle_month WHERE month_start <= {row}.completed_at AND {row}.completed_at < month_end;")


SQLITE_TRIGGERS = [
    "CREATE TRIGGER cycle_month_stale_insert AFTER INSERT ON human_task WHEN NEW.state = 'completed' "
    f"BEGIN {_sqlite_drop('NEW')} END",
    f"CREATE TRIGGER cycle_month_stale_update AFTER UPDATE ON human_task WHEN OLD.state = 'completed' AND "
    f"({CHANGED.replace('IS DISTINCT FROM', 'IS NOT')}) BEGIN {_sqlite_drop('OLD')} {_sqlite_drop('NEW')} END",
    "CREATE TRIGGER cycle_month_stale_delete AFTER DELETE ON human_task WHEN OLD.state = 'completed' "
    f"BEGIN {_sqlite_drop('OLD')} END",
]


def upgrade():
    op.create_table(
        "cycle_month",
        sa.Column("month_start", app.data.db.UTCDateTime(), primary_key=True),
        sa.Column("month_end", app.data.db.UTCDateTime(), nullable=False),
        sa.Column("filled_at", app.data.db.UTCDateTime(), nullable=False),
    )
    op.create_table(
        "cycle_rollup",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("month_start", app.data.db.UTCDateTime(),
                  sa.ForeignKey("cycle_month.month_start", ondelete="CASCADE"), nullable=False),
        sa.Column("stage", sa.String(100), nullable=True),
        sa.Column("department_id", sa.Integer, nullable=True),
        sa.Column("tenths", sa.Integer, nullable=False),
        sa.Column("tasks", sa.Integer, nullable=False),
    )
    op.create_index("ix_cycle_rollup_month", "cycle_rollup", ["month_start", "department_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.text(PG_TRIGGERS))
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(sa.text(statement))
    # empty: the scheduler's job (or ``flask cycle-rollup``) fills the sealed months; until then the
    # reports read the tasks, as before


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.text(PG_DROP))
    else:
        for name in ("insert", "update", "delete"):
            op.execute(sa.text(f"DROP TRIGGER IF EXISTS cycle_month_stale_{name}"))
    op.drop_index("ix_cycle_rollup_month", table_name="cycle_rollup")
    op.drop_table("cycle_rollup")
    op.drop_table("cycle_month")
