"""Early warning: batch number on cases, serial numbers one row each, repeat clusters

Revision ID: 0013_alerts
Revises: 0012_dashboard
Create Date: 2026-11-30
"""
import re

import sqlalchemy as sa
from alembic import op

import app.data.db

revision = "0013_alerts"
down_revision = "0012_dashboard"
branch_labels = None
depends_on = None

#: as app.services.alerts.split_serials at the time of writing (a migration must not change later)
_SEPARATORS = re.compile(r"[\s,;，；、]+")


def _serials(text):
    found = []
    for part in _SEPARATORS.split(text or ""):
        serial = part.strip().upper()[:120]
        if serial and serial not in found:
            found.append(serial)
    return found


def upgrade():
    with op.batch_alter_table("feedback_case") as batch:
        batch.add_column(sa.Column("batch_no", sa.String(80), nullable=True))
        batch.create_index("ix_feedback_case_batch_received", ["batch_no", "received_at"])
        batch.create_index("ix_feedback_case_model_received", ["product_model", "received_at"])
    op.create_table(
        "case_serial",
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("feedback_case.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("serial", sa.String(120), primary_key=True),
    )
    op.create_index("ix_case_serial_serial", "case_serial", ["serial"])
    op.create_table(
        "repeat_cluster",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("dimension", sa.String(20), nullable=False),
        sa.Column("key", sa.String(120), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("window_days", sa.Integer(), nullable=False),
        sa.Column("case_count", sa.Integer(), nullable=False),
        sa.Column("first_case_id", sa.Integer(), sa.ForeignKey("feedback_case.id", ondelete="SET NULL")),
        sa.Column("last_case_id", sa.Integer(), sa.ForeignKey("feedback_case.id", ondelete="SET NULL")),
        sa.Column("first_at", app.data.db.UTCDateTime(), nullable=False),
        sa.Column("last_at", app.data.db.UTCDateTime(), nullable=False),
        sa.Column("alerted_at", app.data.db.UTCDateTime(), nullable=False),
        sa.Column("acknowledged_at", app.data.db.UTCDateTime()),
        sa.Column("acknowledged_by_id", sa.Integer(), sa.ForeignKey("user_account.id", ondelete="SET NULL")),
        sa.Column("note", sa.Text()),
        sa.Column("linked_case_id", sa.Integer(), sa.ForeignKey("feedback_case.id", ondelete="SET NULL")),
    )
    op.create_index("ix_repeat_cluster_key", "repeat_cluster", ["dimension", "key", "last_at"])
    op.create_index("ix_repeat_cluster_status", "repeat_cluster", ["status"])
    op.create_index("ix_repeat_cluster_last_at", "repeat_cluster", ["last_at"])
    op.create_index("ix_repeat_cluster_alerted_at", "repeat_cluster", ["alerted_at"])
    op.create_table(
        "repeat_cluster_case",
        sa.Column("cluster_id", sa.Integer(), sa.ForeignKey("repeat_cluster.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("feedback_case.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("joined_at", app.data.db.UTCDateTime(), nullable=False),
    )
    op.create_index("ix_repeat_cluster_case_case_id", "repeat_cluster_case", ["case_id"])
    # the serial numbers of the cases there are, one row each
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, serial_numbers FROM feedback_case WHERE serial_numbers IS NOT NULL"))
    serials = [{"case_id": case_id, "serial": s} for case_id, text in rows for s in _serials(text)]
    if serials:
        conn.execute(sa.text("INSERT INTO case_serial (case_id, serial) VALUES (:case_id, :serial)"), serials)


def downgrade():
    op.drop_index("ix_repeat_cluster_case_case_id", table_name="repeat_cluster_case")
    op.drop_table("repeat_cluster_case")
    for name in ("ix_repeat_cluster_alerted_at", "ix_repeat_cluster_last_at", "ix_repeat_cluster_status",
                 "ix_repeat_cluster_key"):
        op.drop_index(name, table_name="repeat_cluster")
    op.drop_table("repeat_cluster")
    op.drop_index("ix_case_serial_serial", table_name="case_serial")
    op.drop_table("case_serial")
    with op.batch_alter_table("feedback_case") as batch:
        batch.drop_index("ix_feedback_case_model_received")
        batch.drop_index("ix_feedback_case_batch_received")
        batch.drop_column("batch_no")
