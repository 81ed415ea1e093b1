"""The hash chain: sealing at commit, verification of edited, deleted, inserted, reordered and
truncated events (on copies of the test database, SQLite or PostgreSQL), the PostgreSQL trigger."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from app.data.models import AuditChainHead, AuditEvent
from app.engine import audit, audit_chain
from app.engine.context import Actor
from tests.audit.helpers import database_copy, tamper, write_events

POSTGRES = os.environ.get("TEST_DB", "sqlite") == "postgres"


def _verify(database, published=()):
    with database.engine.connect() as conn:
        return audit_chain.verify(conn, list(published))


def _chain(database):
    with database.session() as session:
        return session.execute(select(AuditEvent.id, AuditEvent.seq, AuditEvent.prev_hash, AuditEvent.hash)
                               .order_by(AuditEvent.seq)).all()


def test_events_are_sealed_in_order_when_their_transaction_commits(database):
    write_events(database, 3, per_transaction=1)
    write_events(database, 4, per_transaction=4)
    rows = _chain(database)
    assert [r.seq for r in rows] == list(range(1, 8))
    assert rows[0].prev_hash == audit_chain.GENESIS
    assert all(b.prev_hash == a.hash for a, b in zip(rows, rows[1:], strict=False))
    with database.session() as session:
        head = session.get(AuditChainHead, 1)
        assert (head.seq, head.hash) == (7, rows[-1].hash)
        event = session.get(AuditEvent, rows[2].id)
        assert audit_chain.event_hash({c: getattr(event, c) for c in audit_chain.HASHED_FIELDS},
                                      event.prev_hash) == event.hash
    result = _verify(database, [(7, rows[-1].hash), (3, rows[2].hash)])
    assert result.ok and result.checked == 7 and result.last_seq == 7


def test_rolled_back_events_leave_no_trace_in_the_chain(database):
    write_events(database, 1)
    with database.session() as session:
        audit.record(session, actor=Actor.system(), action="gone")
        session.flush()
        session.rollback()
        nested = session.begin_nested()
        audit.record(session, actor=Actor.system(), action="savepoint_gone")
        session.flush()
        nested.rollback()
        audit.record(session, actor=Actor.system(), action="kept")
        session.commit()
    with database.session() as session:
        rows = session.execute(select(AuditEvent.action, AuditEvent.seq).order_by(AuditEvent.id)).all()
    assert [tuple(r) for r in rows] == [("test_event", 1), ("kept", 2)]
    assert _verify(database).ok


def test_the_writer_records_the_origin_actor_standing_and_data(database):
    with audit.origin(audit.Origin("api", "203.0.113.9", "curl/8")), database.transaction() as session:
        event = audit.record(session, actor=Actor(None, "x", ("admin", "head:quality"), ("quality",)),
                             action="test_event", case_id=4, before={"a": 1}, after={"a": 2})
    assert (event.channel, event.client_address, event.user_agent) == ("api", "203.0.113.9", "curl/8")
    assert (event.actor_roles, event.actor_departments) == (",admin,head:quality,", ",quality,")
    with database.transaction() as session:
        later = audit.record(session, actor=Actor.system(), action="test_event")
    assert later.channel == "system" and later.client_address is None


def _seven(database):
    write_events(database, 7, per_transaction=2)
    return _chain(database)


def test_verification_finds_an_edited_event(database):
    rows = _seven(database)
    with database_copy(database) as copy:
        tamper(copy, "UPDATE audit_event SET message = 'changed' WHERE seq = 4")
        result = _verify(copy)
        assert (result.finding.kind, result.finding.seq, result.finding.event_id) == ("edited", 4, rows[3].id)
        assert result.checked == 3
    assert _verify(database).ok  # the original is untouched


def test_verification_finds_an_event_rewritten_with_a_recomputed_hash(database):
    rows = _seven(database)
    with database_copy(database) as copy:
        with copy.session() as session:
            event = session.get(AuditEvent, rows[3].id)
            fields = {c: getattr(event, c) for c in audit_chain.HASHED_FIELDS} | {"message": "rewritten"}
        tamper(copy, "UPDATE audit_event SET message = 'rewritten', hash = :h WHERE seq = 4",
               h=audit_chain.event_hash(fields, rows[3].prev_hash))
        result = _verify(copy)
        assert (result.finding.kind, result.finding.seq, result.finding.event_id) == ("rewritten", 5, rows[4].id)


def test_verification_finds_deleted_events(database):
    rows = _seven(database)
    with database_copy(database) as copy:
        tamper(copy, "DELETE FROM audit_event WHERE seq IN (3, 4)")
        result = _verify(copy)
        assert (result.finding.kind, result.finding.seq, result.finding.event_id) == ("deleted", 3, rows[4].id)
        assert result.checked == 2


def test_verification_finds_a_deleted_first_event(database):
    _seven(database)
    with database_copy(database) as copy:
        tamper(copy, "DELETE FROM audit_event WHERE seq = 1")
        assert (_verify(copy).finding.kind, _verify(copy).finding.seq) == ("deleted", 1)


INSERT_FORGED = ("INSERT INTO audit_event (id, at, actor_label, action, channel, message, seq, prev_hash, hash) "
                 "VALUES (999, :at, 'forger', 'test_event', 'web', 'forged', :seq, :prev, :hash)")


def test_verification_finds_an_inserted_event(database):
    rows = _seven(database)
    with database_copy(database) as copy:
        with copy.session() as session:
            at = session.get(AuditEvent, rows[0].id).at.replace(tzinfo=None)
        tamper(copy, "UPDATE audit_event SET seq = seq + 100 WHERE seq >= 4",
               "UPDATE audit_event SET seq = seq - 99 WHERE seq >= 104")  # make room after seq 3
        tamper(copy, INSERT_FORGED, at=at, seq=4, prev="e" * 64, hash="d" * 64)
        result = _verify(copy)
        assert (result.finding.kind, result.finding.seq, result.finding.event_id) == ("inserted", 4, 999)
        # linking a forged event into the chain would give two events the same predecessor: refused
        tamper(copy, "DELETE FROM audit_event WHERE id = 999")
        with pytest.raises(IntegrityError):
            tamper(copy, INSERT_FORGED, at=at, seq=4, prev=rows[2].hash, hash="d" * 64)


def test_verification_finds_reordered_events(database):
    rows = _seven(database)
    with database_copy(database) as copy:
        tamper(copy, "UPDATE audit_event SET seq = 100 WHERE seq = 3",
               "UPDATE audit_event SET seq = 3 WHERE seq = 4", "UPDATE audit_event SET seq = 4 WHERE seq = 100")
        result = _verify(copy)
        assert (result.finding.kind, result.finding.seq, result.finding.event_id) == ("reordered", 3, rows[3].id)


def test_verification_finds_a_truncated_tail(database):
    rows = _seven(database)
    with database_copy(database) as copy:
        tamper(copy, "DELETE FROM audit_event WHERE seq >= 6")
        result = _verify(copy)
        assert (result.finding.kind, result.finding.seq) == ("truncated", 6)  # against the stored head
        # someone who also moves the stored head back is caught by the head published earlier
        tamper(copy, "UPDATE audit_chain_head SET seq = 5, hash = :h", h=rows[4].hash)
        assert _verify(copy).ok
        result = _verify(copy, [(7, rows[6].hash)])
        assert (result.finding.kind, result.finding.seq) == ("truncated", 6)
        assert "seq 7" in result.finding.detail


def test_a_published_head_that_differs_reveals_a_rewritten_chain(database):
    rows = _seven(database)
    assert _verify(database, [(5, rows[4].hash)]).ok
    result = _verify(database, [(5, "a" * 64)])
    assert (result.finding.kind, result.finding.seq) == ("rewritten", 5)


def test_published_heads_are_read_from_logs_and_exports():
    text_ = ("2026-03-01T00:00:00Z audit chain head seq=12 hash=" + "a" * 64 + "\n"
             "# audit trail chain head seq=15 hash=" + "b" * 64 + " taken_at=x\nnoise seq=1 hash=short\n")
    assert audit_chain.parse_heads(text_.splitlines()) == [(12, "a" * 64), (15, "b" * 64)]


@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES, reason="the trigger exists on PostgreSQL (TEST_DB=postgres)")
def test_postgres_refuses_to_update_or_delete_audit_events(database):
    write_events(database, 2)
    for statement in ("UPDATE audit_event SET message = 'x' WHERE seq = 1", "DELETE FROM audit_event WHERE seq = 2",
                      "UPDATE audit_event SET hash = NULL WHERE seq = 1",
                      "UPDATE audit_chain_head SET seq = 0", "DELETE FROM audit_chain_head"):
        with pytest.raises(DBAPIError, match="audit"), database.engine.begin() as conn:
            conn.execute(text(statement))
    assert _verify(database).ok


@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES, reason="parallel writers need PostgreSQL row locks (TEST_DB=postgres)")
def test_parallel_writers_on_postgres_leave_one_valid_chain(database):
    """Eight writers commit 20 transactions each at the same time, some of them rolled back: one
    chain in commit order, no gap, no fork."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from app.data.db import Database

    barrier = threading.Barrier(8)

    def writer(n: int) -> int:
        own = Database(database.url)
        committed = 0
        try:
            with own.session() as warm:
                warm.execute(select(1))
            barrier.wait(timeout=30)
            for i in range(20):
                with own.session() as session:
                    for k in range(1 + (i + n) % 3):
                        audit.record(session, actor=Actor(None, f"writer {n}"), action="test_event",
                                     message=f"{n}/{i}/{k}")
                    session.flush()
                    if (i + n) % 7 == 0:
                        session.rollback()
                        continue
                    session.commit()
                    committed += 1 + (i + n) % 3
        finally:
            own.dispose()
        return committed

    with ThreadPoolExecutor(8) as pool:
        written = sum(pool.map(writer, range(8)))
    rows = _chain(database)
    assert len(rows) == written > 100
    assert [r.seq for r in rows] == list(range(1, written + 1))
    result = _verify(database)
    assert result.ok and result.checked == written


def test_values_the_database_stores_differently_still_verify(database):
    """The chain hashes an event as inserted: numbers PostgreSQL's jsonb prints differently (a
    whole float from 1e16 on reads back as an int), dates, unicode, nesting."""
    from datetime import date

    data = {"big": 1e16, "huge": -1.5e20, "small": 1e-07, "sum": 0.1 + 0.2, "money": 123456789012345.6,
            "day": date(2026, 3, 2), "text": "主轴异响 ✓", "rows": [{"qty": 2.0}, (1, "a")], 3: None}
    with database.transaction() as session:
        audit.record(session, actor=Actor(None, "t"), action="probe", before=data, after={"nested": data})
    result = _verify(database)
    assert result.ok and result.checked == 1, result


def test_events_inserted_by_the_seal_are_stored_as_the_unit_of_work_stores_them(database):
    """On PostgreSQL the events a transaction has not flushed by its commit are inserted by the
    sealing statement, already sealed (with their id from the table's sequence); on SQLite by the
    flush. Either way each is stored exactly as an identical event the unit of work inserted,
    the chain follows the order they were recorded in, and it verifies."""
    from datetime import date

    from app.engine.audit import Origin, origin

    write_events(database, 1)  # the head row exists: the one-statement path on PostgreSQL
    data = {"big": 1e16, "small": 1e-07, "day": date(2026, 3, 2), "text": "主轴异响 ✓", "id": None, "rows": [2.0]}
    with origin(Origin("api", "203.0.113.9", "curl/8 ✓")), database.transaction() as session:
        for action, flush in (("probe_a", True), ("probe_b", False), ("probe_c", False), ("probe_d", False)):
            audit.record(session, actor=Actor(None, "测试", ("admin",), ("quality",)), action=action,
                         case_id=7, element="verify", message="信息 ✓",
                         before=None if action == "probe_c" else data, after={"nested": data, "k": action})
            if flush:
                session.flush()
    columns = [c for c in AuditEvent.__table__.c if c.name not in ("id", "seq", "prev_hash", "hash", "action", "at")]
    with database.session() as session:
        rows = session.execute(select(AuditEvent.__table__).order_by(AuditEvent.seq)).all()
        nulls = session.execute(select(AuditEvent.action, AuditEvent.data_before.is_(None))
                                .order_by(AuditEvent.seq)).all()
    probes = [r for r in rows if r.action.startswith("probe_")]
    assert [r.action for r in probes] == ["probe_a", "probe_b", "probe_c", "probe_d"]
    assert [r.id for r in probes] == sorted(r.id for r in probes)
    assert [r.seq for r in rows] == list(range(1, len(rows) + 1))
    first = probes[0]
    for row in (probes[1], probes[3]):
        assert {c.name: row._mapping[c] for c in columns} == {
            c.name: (first._mapping[c] if c.name != "data_after" else {**first.data_after, "k": row.action})
            for c in columns}
    assert [n for a, n in nulls if a == "probe_a"] == [n for a, n in nulls if a == "probe_b"]
    assert probes[2].data_before is None
    result = _verify(database)
    assert result.ok and result.checked == len(rows), result
