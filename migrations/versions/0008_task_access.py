"""human_task.performer and human_task.approval: who may complete a task and its approval kind,
projected from the task's BPMN properties

Open tasks of instances started before the diagrams declared these properties are filled in
from the table the application used until then (approval kind, who signs, four-eyes).

Revision ID: 0008_task_access
Revises: 0007_assessment
Create Date: 2026-11-30
"""
import json

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008_task_access"
down_revision = "0007_assessment"
branch_labels = None
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
depends_on = None

#: element id → (approval kind, performer, submittedBy) as the application decided them before
LEGACY = {
    ("feedback_case", "preliminary"): ("shipment", None, "verify"),
    ("feedback_case", "verify_8d"): ("eight_d", None, "report"),
    ("feedback_case", "summary"): ("closure", None, "report"),
    ("corrective_action", "verify_execution"): ("execution", None, "execute"),
    ("weekly_assessment", "sign_quality"): ("sign_quality", "head", "review"),
    ("weekly_assessment", "sign_gm"): ("sign_gm", "head", "review"),
    ("weekly_assessment", "breakdown"): (None, "head", None),
}


def upgrade():
    with op.batch_alter_table("human_task") as batch:
        batch.add_column(sa.Column("performer", sa.String(100), nullable=True))
        batch.add_column(sa.Column("approval", sa.String(40), nullable=True))
    op.create_index("ix_human_task_approval", "human_task", ["approval", "state"])

    conn = op.get_bind()
    task = sa.table("human_task", sa.column("id", sa.String), sa.column("process_key", sa.String),
                    sa.column("element_id", sa.String), sa.column("state", sa.String),
                    sa.column("performer", sa.String), sa.column("approval", sa.String),
                    sa.column("context", JSON))
    rows = conn.execute(sa.select(task.c.id, task.c.process_key, task.c.element_id, task.c.context)
                        .where(task.c.state == "open")).all()
    for row in rows:
        legacy = LEGACY.get((row.process_key, row.element_id))
        if legacy is None:
            continue
        approval, performer, submitted_by = legacy
        context = row.context if isinstance(row.context, dict) else json.loads(row.context or "{}")
        if submitted_by:
            context = {**context, "submitted_by": [submitted_by]}
        conn.execute(task.update().where(task.c.id == row.id)
                     .values(approval=approval, performer=performer, context=context))


def downgrade():
    op.drop_index("ix_human_task_approval", table_name="human_task")
    with op.batch_alter_table("human_task") as batch:
        batch.drop_column("approval")
        batch.drop_column("performer")
