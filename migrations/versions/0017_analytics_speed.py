"""Analytics speed: covering indexes for the dashboard's period queries (PostgreSQL reads them from the
index alone), the departments of a case by index, and match keys as the early warning reads them

Revision ID: 0017_analytics_speed
Revises: 0016_documents
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

revision = "0017_analytics_speed"
down_revision = "0016_documents"
branch_labels = None
depends_on = None

#: (name, table, columns, PostgreSQL INCLUDE columns): the new shape of each index
COVERING = (
    ("ix_feedback_case_closed_at", "feedback_case", ["closed_at"], ["id", "received_at"]),
    ("ix_human_task_completed_at", "human_task", ["completed_at", "department_id"],
     ["state", "case_id", "stage", "created_at"]),
    ("ix_human_task_charge_due", "human_task", ["lateness_charge", "due_at"],
     ["department_id", "completed_at", "state", "case_id"]),
)
NEW = (
    ("ix_feedback_case_received_cover", "feedback_case", ["received_at"],
     ["id", "channel", "feedback_type", "category", "product_model", "clock_state", "first_answer_met",
      "first_answer_due_at", "resolution_met", "resolution_due_at"]),
    ("ix_human_task_case_department", "human_task", ["case_id", "department_id"], []),
)
OLD = {"ix_feedback_case_closed_at": ["closed_at"], "ix_human_task_completed_at": ["completed_at", "department_id"],
       "ix_human_task_charge_due": ["lateness_charge", "due_at"]}

#: match keys as the early warning reads them (kind "model", "batch", "serial"), from the projected columns
MATCH_KEYS = """
INSERT INTO case_match_key (case_id, kind, value, received_at)
SELECT id, 'model', substr(product_model, 1, 300), received_at FROM feedback_case WHERE product_model IS NOT NULL
UNION ALL
SELECT id, 'batch', substr(batch_no, 1, 300), received_at FROM feedback_case WHERE batch_no IS NOT NULL
UNION ALL
SELECT c.id, 'serial', s.serial, c.received_at FROM case_serial s JOIN feedback_case c ON c.id = s.case_id
"""
#: the earlier shape ("serial": "MODEL|SERIAL"), close enough for a downgrade (the hook rewrites what differs)
OLD_MATCH_KEYS = """
INSERT INTO case_match_key (case_id, kind, value, received_at)
SELECT c.id, 'serial', substr(upper(replace(c.product_model, ' ', '')) || '|' || s.serial, 1, 300), c.received_at
FROM case_serial s JOIN feedback_case c ON c.id = s.case_id WHERE c.product_model IS NOT NULL
"""


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _create(name, table, columns, include):
    if include and _postgres():
        op.create_index(name, table, columns, postgresql_include=include)
    else:
        op.create_index(name, table, columns)


def upgrade():
    for name, table, columns, include in COVERING:
        if _postgres():
            op.drop_index(name, table_name=table)
            _create(name, table, columns, include)
    for name, table, columns, include in NEW:
        _create(name, table, columns, include)
    op.execute(sa.text("DELETE FROM case_match_key"))
    op.execute(sa.text(MATCH_KEYS))


def downgrade():
    op.execute(sa.text("DELETE FROM case_match_key"))
    op.execute(sa.text(OLD_MATCH_KEYS))
    for name, table, _columns, _include in NEW:
        op.drop_index(name, table_name=table)
    for name, table, _columns, _include in COVERING:
        if _postgres():
            op.drop_index(name, table_name=table)
            op.create_index(name, table, OLD[name])
