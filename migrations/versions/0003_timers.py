"""timers, calendar overrides, notifications, outbox, escalation, lateness, scheduler jobs

Revision ID: 0003_timers
Revises: 0001
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.data.db

revision = "0003_timers"
down_revision = "0001"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
UTC = app.data.db.UTCDateTime


def upgrade():
    # APScheduler's SQLAlchemyJobStore layout (created here so both databases get it).
    op.create_table(
        "apscheduler_jobs",
        sa.Column("id", sa.Unicode(191), nullable=False),
        sa.Column("next_run_time", sa.Float(25), nullable=True),
        sa.Column("job_state", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_apscheduler_jobs")),
    )
    op.create_index("ix_apscheduler_jobs_next_run_time", "apscheduler_jobs", ["next_run_time"])

    op.create_table(
        "calendar_override",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("working", sa.Boolean(), nullable=False),
        sa.Column("note", sa.String(200), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTC(), nullable=False),
        sa.ForeignKeyConstraint(["created_by_id"], ["user_account.id"], ondelete="SET NULL",
                                name=op.f("fk_calendar_override_created_by_id_user_account")),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_calendar_override")),
    )

    op.create_table(
        "notification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("task_id", sa.String(36), nullable=True),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("case_number", sa.String(32), nullable=True),
        sa.Column("params", JSON, nullable=False),
        sa.Column("in_app", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTC(), nullable=False),
        sa.Column("read_at", UTC(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], ondelete="CASCADE",
                                name=op.f("fk_notification_user_id_user_account")),
        sa.ForeignKeyConstraint(["case_id"], ["feedback_case.id"], ondelete="SET NULL",
                                name=op.f("fk_notification_case_id_feedback_case")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification")),
    )
    op.create_index("ix_notification_user_read", "notification", ["user_id", "read_at", "created_at"])
    op.create_index("ix_notification_task_id", "notification", ["task_id"])

    op.create_table(
        "email_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notification_id", sa.Integer(), nullable=True),
        sa.Column("to_address", sa.String(200), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("locale", sa.String(8), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTC(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UTC(), nullable=False),
        sa.Column("sent_at", UTC(), nullable=True),
        sa.ForeignKeyConstraint(["notification_id"], ["notification.id"], ondelete="SET NULL",
                                name=op.f("fk_email_outbox_notification_id_notification")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_outbox")),
    )
    op.create_index("ix_email_outbox_status_next", "email_outbox", ["status", "next_attempt_at"])

    op.create_table(
        "notification_opt_out",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], ondelete="CASCADE",
                                name=op.f("fk_notification_opt_out_user_id_user_account")),
        sa.PrimaryKeyConstraint("user_id", "kind", "channel", name=op.f("pk_notification_opt_out")),
    )

    op.create_table(
        "task_escalation",
        sa.Column("task_id", sa.String(36), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("reminded_at", UTC(), nullable=True),
        sa.Column("head_at", UTC(), nullable=True),
        sa.Column("manager_at", UTC(), nullable=True),
        sa.ForeignKeyConstraint(["task_id"], ["human_task.id"], ondelete="CASCADE",
                                name=op.f("fk_task_escalation_task_id_human_task")),
        sa.PrimaryKeyConstraint("task_id", name=op.f("pk_task_escalation")),
    )

    op.create_table(
        "task_lateness",
        sa.Column("task_id", sa.String(36), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("case_number", sa.String(32), nullable=True),
        sa.Column("element_id", sa.String(200), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("due_at", UTC(), nullable=False),
        sa.Column("completed_at", UTC(), nullable=False),
        sa.Column("days_late", sa.Integer(), nullable=False),
        sa.Column("basis", sa.String(10), nullable=False),
        sa.ForeignKeyConstraint(["task_id"], ["human_task.id"], ondelete="CASCADE",
                                name=op.f("fk_task_lateness_task_id_human_task")),
        sa.ForeignKeyConstraint(["instance_id"], ["process_instance.id"], ondelete="CASCADE",
                                name=op.f("fk_task_lateness_instance_id_process_instance")),
        sa.ForeignKeyConstraint(["case_id"], ["feedback_case.id"], ondelete="SET NULL",
                                name=op.f("fk_task_lateness_case_id_feedback_case")),
        sa.ForeignKeyConstraint(["department_id"], ["department.id"],
                                name=op.f("fk_task_lateness_department_id_department")),
        sa.PrimaryKeyConstraint("task_id", name=op.f("pk_task_lateness")),
    )
    op.create_index("ix_task_lateness_completed", "task_lateness", ["completed_at"])
    op.create_index("ix_task_lateness_instance_id", "task_lateness", ["instance_id"])
    op.create_index("ix_task_lateness_case_id", "task_lateness", ["case_id"])


def downgrade():
    op.drop_table("task_lateness")
    op.drop_table("task_escalation")
    op.drop_table("notification_opt_out")
    op.drop_table("email_outbox")
    op.drop_table("notification")
    op.drop_table("calendar_override")
    op.drop_table("apscheduler_jobs")
