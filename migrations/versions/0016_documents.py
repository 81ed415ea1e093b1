"""Documents: files attached to an outbox e-mail (the monthly management report's PDF)

Revision ID: 0016_documents
Revises: 0015_search
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

from sqlalchemy.dialects import postgresql

revision = "0016_documents"
down_revision = "0015_search"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("email_outbox") as batch:
        batch.add_column(sa.Column("attachments", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                                     nullable=True))


def downgrade():
    with op.batch_alter_table("email_outbox") as batch:
        batch.drop_column("attachments")
