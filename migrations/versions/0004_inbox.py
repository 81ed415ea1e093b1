"""inbox: task delegations, substitutes, saved filters, and human_task indexes for sorting

Revision ID: 0004_inbox
Revises: 0001
Create Date: 2026-11-24
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.data.db

revision = "0004_inbox"
down_revision = "0001"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
UTC = app.data.db.UTCDateTime


def upgrade():
    op.create_table(
        "task_delegation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.String(36), nullable=False),
        sa.Column("delegator_id", sa.Integer(), nullable=False),
        sa.Column("delegate_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("note", sa.String(500), nullable=True),
        sa.Column("draft", JSON, nullable=True),
        sa.Column("created_at", UTC(), nullable=False),
        sa.Column("returned_at", UTC(), nullable=True),
        sa.Column("closed_at", UTC(), nullable=True),
        sa.ForeignKeyConstraint(["task_id"], ["human_task.id"], ondelete="CASCADE",
                                name=op.f("fk_task_delegation_task_id_human_task")),
        sa.ForeignKeyConstraint(["delegator_id"], ["user_account.id"], ondelete="CASCADE",
                                name=op.f("fk_task_delegation_delegator_id_user_account")),
        sa.ForeignKeyConstraint(["delegate_id"], ["user_account.id"], ondelete="CASCADE",
                                name=op.f("fk_task_delegation_delegate_id_user_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_delegation")),
    )
    op.create_index("ix_task_delegation_task_state", "task_delegation", ["task_id", "state"])
    op.create_index(op.f("ix_task_delegation_delegator_id"), "task_delegation", ["delegator_id"])
    op.create_index(op.f("ix_task_delegation_delegate_id"), "task_delegation", ["delegate_id"])

    op.create_table(
        "substitution",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("substitute_id", sa.Integer(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("created_at", UTC(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], ondelete="CASCADE",
                                name=op.f("fk_substitution_user_id_user_account")),
        sa.ForeignKeyConstraint(["substitute_id"], ["user_account.id"], ondelete="CASCADE",
                                name=op.f("fk_substitution_substitute_id_user_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_substitution")),
    )
    op.create_index(op.f("ix_substitution_user_id"), "substitution", ["user_id"])
    op.create_index("ix_substitution_substitute_dates", "substitution", ["substitute_id", "starts_on", "ends_on"])

    op.create_table(
        "saved_filter",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("query", sa.String(2000), nullable=False),
        sa.Column("created_at", UTC(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], ondelete="CASCADE",
                                name=op.f("fk_saved_filter_user_id_user_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saved_filter")),
        sa.UniqueConstraint("user_id", "name", name=op.f("uq_saved_filter_user_id")),
    )

    op.create_index("ix_human_task_open_priority", "human_task", ["state", "priority", "due_at"])
    op.create_index("ix_human_task_instance_element", "human_task", ["instance_id", "element_id", "state"])


def downgrade():
    op.drop_index("ix_human_task_instance_element", table_name="human_task")
    op.drop_index("ix_human_task_open_priority", table_name="human_task")
    op.drop_table("saved_filter")
    op.drop_index("ix_substitution_substitute_dates", table_name="substitution")
    op.drop_index(op.f("ix_substitution_user_id"), table_name="substitution")
    op.drop_table("substitution")
    op.drop_index(op.f("ix_task_delegation_delegate_id"), table_name="task_delegation")
    op.drop_index(op.f("ix_task_delegation_delegator_id"), table_name="task_delegation")
    op.drop_index("ix_task_delegation_task_state", table_name="task_delegation")
    op.drop_table("task_delegation")
