"""Security: session epoch (server-side sign-out), sign-in throttling, generic rate-limit hits

Revision ID: 0011_security
Revises: 0010_audit_chain
Create Date: 2026-11-29
"""
import sqlalchemy as sa
from alembic import op

import app.data.db

revision = "0011_security"
down_revision = "0010_audit_chain"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("user_account") as batch:
        batch.add_column(sa.Column("session_epoch", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("locked_until", app.data.db.UTCDateTime(), nullable=True))
    op.create_table(
        "rate_hit",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("bucket", sa.String(40), nullable=False),
        sa.Column("client", sa.String(120), nullable=False),
        sa.Column("at", app.data.db.UTCDateTime(), nullable=False),
    )
    op.create_index("ix_rate_hit_bucket_client_at", "rate_hit", ["bucket", "client", "at"])
    op.create_index("ix_rate_hit_at", "rate_hit", ["at"])


def downgrade():
    op.drop_index("ix_rate_hit_at", table_name="rate_hit")
    op.drop_index("ix_rate_hit_bucket_client_at", table_name="rate_hit")
    op.drop_table("rate_hit")
    with op.batch_alter_table("user_account") as batch:
        batch.drop_column("locked_until")
        batch.drop_column("failed_logins")
        batch.drop_column("session_epoch")
