"""assessment: human_task lateness charge and basis (indexed), app_setting

Revision ID: 0007_assessment
Revises: 0006_calendar_years
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.data.db

revision = "0007_assessment"
down_revision = "0006_calendar_years"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
UTC = app.data.db.UTCDateTime

#: the charged tasks of the diagrams as shipped before the properties existed (backfill)
CHARGED = (("eight_d", "report", "measures", "calendar"), ("corrective_action", "execute", "execution", None))


def upgrade():
    with op.batch_alter_table("human_task") as batch:
        batch.add_column(sa.Column("lateness_charge", sa.String(20), nullable=True))
        batch.add_column(sa.Column("lateness_basis", sa.String(10), nullable=True))
    op.create_index("ix_human_task_lateness", "human_task", ["lateness_charge", "completed_at"])
    task = sa.table("human_task", sa.column("process_key", sa.String), sa.column("element_id", sa.String),
                    sa.column("lateness_charge", sa.String), sa.column("lateness_basis", sa.String))
    for process_key, element_id, charge, basis in CHARGED:
        op.execute(task.update().where(task.c.process_key == process_key, task.c.element_id == element_id)
                   .values(lateness_charge=charge, lateness_basis=basis))

    op.create_table(
        "app_setting",
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("value", JSON, nullable=True),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", UTC(), nullable=False),
        sa.ForeignKeyConstraint(["updated_by_id"], ["user_account.id"], ondelete="SET NULL",
                                name=op.f("fk_app_setting_updated_by_id_user_account")),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_app_setting")),
    )


def downgrade():
    op.drop_table("app_setting")
    op.drop_index("ix_human_task_lateness", table_name="human_task")
    with op.batch_alter_table("human_task") as batch:
        batch.drop_column("lateness_basis")
        batch.drop_column("lateness_charge")
