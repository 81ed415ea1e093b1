"""merge public, timers and inbox

Revision ID: 0005_merge
Revises: 0002_public, 0003_timers, 0004_inbox
Create Date: 2026-11-22
"""
from alembic import op
import sqlalchemy as sa
import app.data.db  # noqa: F401


revision = '0005_merge'
down_revision = ('0002_public', '0003_timers', '0004_inbox')
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
