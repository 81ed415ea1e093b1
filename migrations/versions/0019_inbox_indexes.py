"""Inbox at volume: a partial index on the departments of approval tasks

The navigation asks on every page which departments have (or had) approval items; without an
index that is a scan of every human task ever created. The partial index holds only the approval
tasks' departments, so the question is one index probe per department.

Revision ID: 0019_inbox_indexes
Revises: 0018_search_speed
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

revision = "0019_inbox_indexes"
down_revision = "0018_search_speed"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_human_task_approval_department", "human_task", ["department_id"],
                    postgresql_where=sa.text("approval IS NOT NULL"), sqlite_where=sa.text("approval IS NOT NULL"))


def downgrade():
    op.drop_index("ix_human_task_approval_department", table_name="human_task")
