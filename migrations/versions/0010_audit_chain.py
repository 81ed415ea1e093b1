"""audit trail: who/where columns, the hash chain (seq, prev_hash, hash and the chain head),
exports in progress; existing events chained in id order; on PostgreSQL a trigger refuses
UPDATE and DELETE of audit events (only the sealing of an unsealed event may set its chain
columns) and moving the chain head backwards

Revision ID: 0010_audit_chain
Revises: 0009_customer_clock
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from app.engine.audit_chain import GENESIS, HASHED_FIELDS, event_hash

revision = "0010_audit_chain"
down_revision = "0009_customer_clock"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
BATCH = 2000

TRIGGERS = """
CREATE FUNCTION audit_event_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'audit events cannot be deleted (event %)', OLD.id;
  END IF;
  IF OLD.hash IS NOT NULL OR NEW.hash IS NULL
     OR (to_jsonb(NEW) - 'seq' - 'prev_hash' - 'hash') IS DISTINCT FROM (to_jsonb(OLD) - 'seq' - 'prev_hash' - 'hash')
  THEN
    RAISE EXCEPTION 'audit events cannot be changed (event %)', OLD.id;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER audit_event_immutable BEFORE UPDATE OR DELETE ON audit_event
  FOR EACH ROW EXECUTE FUNCTION audit_event_immutable();

CREATE FUNCTION audit_chain_head_forward() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' OR NEW.seq < OLD.seq THEN
    RAISE EXCEPTION 'the audit chain head only moves forward';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER audit_chain_head_forward BEFORE UPDATE OR DELETE ON audit_chain_head
  FOR EACH ROW EXECUTE FUNCTION audit_chain_head_forward();
"""

DROP_TRIGGERS = """
DROP TRIGGER IF EXISTS audit_chain_head_forward ON audit_chain_head;
DROP FUNCTION IF EXISTS audit_chain_head_forward();
DROP TRIGGER IF EXISTS audit_event_immutable ON audit_event;
DROP FUNCTION IF EXISTS audit_event_immutable();
"""


def _events_table():
    types = {"id": BIG, "at": sa.DateTime(), "actor_id": sa.Integer(), "instance_id": sa.Integer(),
             "definition_id": sa.Integer(), "case_id": sa.Integer(), "data_before": JSON, "data_after": JSON}
    names = {*HASHED_FIELDS, "seq", "prev_hash", "hash"}
    return sa.table("audit_event", *(sa.column(name, types.get(name, sa.String())) for name in sorted(names)))


def _chain_existing(conn) -> tuple[int, str]:
    """Seal the events already there, in id order; the head they end at."""
    events = _events_table()
    seq, prev, last_id = 0, GENESIS, 0
    while True:
        rows = conn.execute(sa.select(*(events.c[name] for name in HASHED_FIELDS))
                            .where(events.c.id > last_id).order_by(events.c.id).limit(BATCH)).all()
        if not rows:
            return seq, prev
        seals = []
        for row in rows:
            seq += 1
            digest = event_hash(row._mapping, prev)
            seals.append({"_id": row.id, "seq": seq, "prev_hash": prev, "hash": digest})
            prev, last_id = digest, row.id
        conn.execute(events.update().where(events.c.id == sa.bindparam("_id"))
                     .values(seq=sa.bindparam("seq"), prev_hash=sa.bindparam("prev_hash"),
                             hash=sa.bindparam("hash")), seals)


def upgrade():
    with op.batch_alter_table("audit_event") as batch:
        batch.add_column(sa.Column("actor_roles", sa.String(400), nullable=True))
        batch.add_column(sa.Column("actor_departments", sa.String(400), nullable=True))
        batch.add_column(sa.Column("channel", sa.String(20), nullable=True))
        batch.add_column(sa.Column("client_address", sa.String(64), nullable=True))
        batch.add_column(sa.Column("user_agent", sa.String(300), nullable=True))
        batch.add_column(sa.Column("definition_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("seq", BIG, nullable=True))
        batch.add_column(sa.Column("prev_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("hash", sa.String(64), nullable=True))
    op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("seq", BIG, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audit_chain_head"),
    )
    op.create_table(
        "audit_export",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("format", sa.String(10), nullable=False),
        sa.Column("filters", JSON, nullable=True),
        sa.Column("head_seq", BIG, nullable=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
        sa.Column("total", BIG, nullable=False),
        sa.Column("written", BIG, nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["requested_by_id"], ["user_account.id"], ondelete="SET NULL",
                                name="fk_audit_export_requested_by_id_user_account"),
        sa.PrimaryKeyConstraint("id", name="pk_audit_export"),
    )
    conn = op.get_bind()
    seq, head = _chain_existing(conn)
    conn.execute(sa.table("audit_chain_head", sa.column("id"), sa.column("seq"), sa.column("hash"))
                 .insert().values(id=1, seq=seq, hash=head))
    with op.batch_alter_table("audit_event") as batch:
        batch.create_unique_constraint("uq_audit_event_seq", ["seq"])
        batch.create_unique_constraint("uq_audit_event_prev_hash", ["prev_hash"])
        batch.create_unique_constraint("uq_audit_event_hash", ["hash"])
        batch.create_index("ix_audit_event_actor_id", ["actor_id"])
        batch.create_index("ix_audit_event_action_at", ["action", "at"])
    if conn.dialect.name == "postgresql":
        op.execute(TRIGGERS)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(DROP_TRIGGERS)
    op.drop_table("audit_export")
    op.drop_table("audit_chain_head")
    with op.batch_alter_table("audit_event") as batch:
        batch.drop_index("ix_audit_event_action_at")
        batch.drop_index("ix_audit_event_actor_id")
        batch.drop_constraint("uq_audit_event_hash", type_="unique")
        batch.drop_constraint("uq_audit_event_prev_hash", type_="unique")
        batch.drop_constraint("uq_audit_event_seq", type_="unique")
        for name in ("hash", "prev_hash", "seq", "definition_id", "user_agent", "client_address", "channel",
                     "actor_departments", "actor_roles"):
            batch.drop_column(name)
