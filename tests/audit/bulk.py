"""Many audit events at once, written by the database itself (INSERT … SELECT), for export tests."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text

from app.data.db import Database

SQLITE = """
WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < :count)
INSERT INTO audit_event (id, at, actor_label, actor_roles, actor_departments, channel, action, case_id, message,
                         data_before, data_after, seq, prev_hash, hash)
SELECT x, :at, '质量部专员', ',quality_engineer,', ',quality,', 'web', 'bulk_event', x % 500,
       'event ' || x || ' 客户反馈', '{"n": ' || (x - 1) || ', "note": "之前"}', '{"n": ' || x || ', "note": "之后"}',
       x, printf('p%063d', x), printf('%064d', x)
FROM n
"""

POSTGRES = """
INSERT INTO audit_event (id, at, actor_label, actor_roles, actor_departments, channel, action, case_id, message,
                         data_before, data_after, seq, prev_hash, hash)
SELECT x, :at, '质量部专员', ',quality_engineer,', ',quality,', 'web', 'bulk_event', x % 500,
       'event ' || x || ' 客户反馈', jsonb_build_object('n', x - 1, 'note', '之前'),
       jsonb_build_object('n', x, 'note', '之后'), x, 'p' || lpad(x::text, 63, '0'), lpad(x::text, 64, '0')
FROM generate_series(1, :count) AS x
"""


def bulk_events(database: Database, count: int, at: datetime) -> None:
    """``count`` events (ids and chain positions 1…count; their hashes are placeholders) and
    the chain head after them, on empty tables."""
    with database.engine.begin() as conn:
        conn.execute(text(POSTGRES if database.dialect == "postgresql" else SQLITE),
                     {"count": count, "at": at.replace(tzinfo=None)})
        conn.execute(text("DELETE FROM audit_chain_head") if database.dialect == "sqlite" else text("SELECT 1"))
        if database.dialect == "postgresql":
            conn.execute(text("SELECT setval(pg_get_serial_sequence('audit_event', 'id'), :count)"), {"count": count})
            conn.execute(text("INSERT INTO audit_chain_head (id, seq, hash) VALUES (1, :count, :hash) "
                              "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash"),
                         {"count": count, "hash": f"{count:064d}"})
        else:
            conn.execute(text("INSERT INTO audit_chain_head (id, seq, hash) VALUES (1, :count, :hash)"),
                         {"count": count, "hash": f"{count:064d}"})
