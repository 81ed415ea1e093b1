"""The hash chain of the audit trail: sealing events when their transaction commits, and
verifying the chain.

Each event's ``hash`` is SHA-256 over its canonical content (:data:`HASHED_FIELDS` as sorted,
compact JSON) and the previous event's hash; the first event follows :data:`GENESIS`.

**Order and why it cannot fork.** :func:`record <app.engine.audit.record>` only inserts the
event; the session's ``before_commit`` hook (:func:`seal`) then locks the single row of
``audit_chain_head`` (``SELECT … FOR UPDATE`` on PostgreSQL; on SQLite the transaction already
holds the database write lock), takes the transaction's events in id order (as inserted; not
read back), gives them the next ``seq`` numbers, each the previous hash, and moves the head — as
the last statements before COMMIT. A second transaction sealing at the same time waits for the
head row and, once the first commits, reads the head it left (READ COMMITTED re-reads a locked
row after the wait), so the chain is in commit order and every event has exactly one
predecessor; a rolled-back transaction takes its events and its head move with it. On
PostgreSQL the lock, the hashing (``sha256`` in the database, the same bytes) and both moves are
one statement (:data:`_SEAL_IN_ONE`), which also inserts, already sealed, the events the
transaction has not flushed by its commit (usually the operation's last: it is recorded after
the operation's other writes). Until then such an event is in the session like any other
pending row — a query in the transaction flushes it first and then sees it — and it gets its id
from the table's sequence as the chain reaches it, so the events are still chained in the order
they were recorded and in id order. SQLite has no data-modifying CTEs. The unique
indexes on ``seq``, ``prev_hash`` and ``hash`` refuse a fork even if that reasoning failed. The
head lock is taken only at commit and nothing else is locked after it, so it cannot deadlock
with the instance locks the engine takes earlier in the transaction.

This module imports no Flask and no models beyond the two tables (the migration that chains
the existing events uses :func:`event_hash` too, so it must stay stable: change the content
only with a new version prefix).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Generator, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, event, func, inspect, select, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, object_session
from sqlalchemy.sql.elements import TextClause

from app.clock import clock
from app.data.models.audit import AuditChainHead, AuditEvent

GENESIS = "0" * 64
VERSION = b"audit-chain-v1\n"
HEAD_ID = 1
#: what an event's hash covers (everything but its place in the chain)
HASHED_FIELDS = (
    "id", "at", "actor_id", "actor_label", "actor_roles", "actor_departments", "channel", "client_address",
    "user_agent", "action", "instance_id", "definition_id", "case_id", "task_id", "element", "message",
    "data_before", "data_after",
)
#: ``Session.info`` key: events added in the current transaction, sealed at its commit
PENDING_KEY = "audit.unsealed"

_events = cast(Table, AuditEvent.__table__)
_head = cast(Table, AuditChainHead.__table__)
_HASHED_COLUMNS = [_events.c[name] for name in HASHED_FIELDS]
_PG_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value


def canonical(fields: Mapping[str, Any]) -> bytes:
    """The event's content as the bytes its hash covers."""
    body = {name: _plain(fields.get(name)) for name in HASHED_FIELDS}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8")


def event_hash(fields: Mapping[Any, Any], prev_hash: str) -> str:
    """SHA-256 (hex) of the version tag, the previous hash and the event's canonical content."""
    return hashlib.sha256(VERSION + prev_hash.encode("ascii") + b"\n" + canonical(fields)).hexdigest()


# ---------------------------------------------------------------------------- sealing


def remember(session: Session, event_row: AuditEvent) -> None:
    """Have ``event_row`` sealed when the session's transaction commits."""
    session.info.setdefault(PENDING_KEY, []).append(event_row)


def lock_head(session: Session | Connection) -> tuple[int, str]:
    """The chain head ``(seq, hash)``, locked until the end of the transaction. A missing head
    row (a new or emptied table) is created from the last sealed event, else the genesis."""
    stmt = select(_head.c.seq, _head.c.hash).where(_head.c.id == HEAD_ID).with_for_update()
    row = session.execute(stmt).first()
    if row is None:
        last = session.execute(select(_events.c.seq, _events.c.hash).where(_events.c.seq.is_not(None))
                               .order_by(_events.c.seq.desc()).limit(1)).first()
        values = {"id": HEAD_ID, "seq": last.seq if last else 0, "hash": last.hash if last else GENESIS,
                  "updated_at": clock.now()}
        dialect = session.get_bind().dialect.name if isinstance(session, Session) else session.dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        session.execute(insert(_head).values(**values).on_conflict_do_nothing())
        row = session.execute(stmt).one()
    return row.seq, row.hash


def current_head(session: Session | Connection) -> tuple[int, str]:
    """The chain head as last committed (not locked): ``(0, GENESIS)`` for an empty trail."""
    row = session.execute(select(_head.c.seq, _head.c.hash).where(_head.c.id == HEAD_ID)).first()
    return (row.seq, row.hash) if row is not None else (0, GENESIS)


def seal(session: Session) -> int:
    """Chain the events this transaction wrote (see the module docstring); how many."""
    pending = session.info.pop(PENDING_KEY, None)
    if not pending:
        return 0
    postgres = session.get_bind().dialect.name == "postgresql"
    # PostgreSQL: events not flushed yet are inserted by the sealing statement itself, already
    # sealed (taken out of the unit of work, so the flush below leaves them to it)
    unflushed = [e for e in pending if postgres and object_session(e) is session and inspect(e).pending]
    for event_row in unflushed:
        session.expunge(event_row)
    try:
        session.flush()
    except BaseException:
        for event_row in unflushed:  # as they were: the caller's rollback takes them
            session.add(event_row)
        raise
    kept = {e.id: e for e in pending if object_session(e) is session and e.id is not None}
    ordered = [kept[event_id] for event_id in sorted(kept)]
    if not ordered and not unflushed:
        return 0
    if postgres:
        if _seal_in_one(session, ordered, unflushed):
            _expire_seals(session, pending)
            return len(ordered) + len(unflushed)
        for event_row in unflushed:  # no head row yet: inserted as usual, sealed below
            session.add(event_row)
        session.flush()
        ordered += unflushed
    seq, prev = lock_head(session)
    seals = []
    # hashed from the rows as this session inserted them (the values are plain JSON, text and
    # numbers, and the instant normalised by canonical(), so reading them back would give the
    # same content: verify() recomputes every hash from the stored rows)
    for event_row in ordered:
        seq += 1
        digest = event_hash({name: getattr(event_row, name) for name in HASHED_FIELDS}, prev)
        seals.append({"_id": event_row.id, "seq": seq, "prev_hash": prev, "hash": digest})
        prev = digest
    session.execute(
        update(_events).where(_events.c.id == bindparam("_id"))
        .values(seq=bindparam("seq"), prev_hash=bindparam("prev_hash"), hash=bindparam("hash")),
        seals,
        execution_options={"synchronize_session": False},
    )
    session.execute(update(_head).where(_head.c.id == HEAD_ID).values(seq=seq, hash=prev, updated_at=clock.now()))
    _expire_seals(session, pending)
    return len(seals)


#: the columns an event not yet inserted brings to :data:`_SEAL_IN_ONE` (all but ``id`` and
#: its place in the chain), with the SQL type each is cast to
_FRESH_COLUMNS = tuple(name for name in HASHED_FIELDS if name != "id")

#: PostgreSQL: the head locked and read, the events chained and the head moved in one statement.
#: ``head`` locks the row and (READ COMMITTED) gives its latest version after a wait, as
#: lock_head does; ``chain`` hashes event after event from it exactly as event_hash does
#: (sha256 over the version tag, the previous hash, a newline and the canonical content: the
#: content is passed in two parts, before and after the event's id, and the id put between
#: them). ``pending`` lists the events in chain order: those already inserted with their id
#: (``sealed`` sets their links), then those not inserted yet, whose id is taken from the
#: table's sequence as the chain reaches them (``inserted`` writes them whole, already
#: sealed, from ``fresh``); the head's UPDATE takes the last link.
_SEAL_IN_ONE = """
WITH RECURSIVE head AS (
    SELECT seq, hash FROM audit_chain_head WHERE id = :head_id FOR UPDATE
), pending (k, id, before_id, after_id) AS (
    VALUES {rows}
), chain (k, id, seq, prev_hash, hash) AS (
    SELECT 0, NULL::bigint, head.seq, NULL::varchar, head.hash::varchar FROM head
    UNION ALL
    SELECT chain.k + 1, n.id, chain.seq + 1, chain.hash,
           encode(sha256(CAST(:version AS bytea) || convert_to(chain.hash, 'UTF8') || pending.before_id
                         || convert_to(n.id::text, 'UTF8') || pending.after_id), 'hex')::varchar
    FROM chain JOIN pending ON pending.k = chain.k + 1
    CROSS JOIN LATERAL (
        SELECT COALESCE(pending.id, nextval(pg_get_serial_sequence('audit_event', 'id'))) AS id
    ) AS n
), sealed AS (
    UPDATE audit_event SET seq = chain.seq, prev_hash = chain.prev_hash, hash = chain.hash
    FROM chain JOIN pending ON pending.k = chain.k
    WHERE chain.k > 0 AND pending.id IS NOT NULL AND audit_event.id = chain.id
){fresh}, moved AS (
    UPDATE audit_chain_head SET seq = last.seq, hash = last.hash, updated_at = :now
    FROM (SELECT seq, hash FROM chain ORDER BY k DESC LIMIT 1) AS last
    WHERE audit_chain_head.id = :head_id
    RETURNING audit_chain_head.seq
)
SELECT chain.k, chain.id, chain.seq, chain.prev_hash, chain.hash FROM chain
WHERE chain.k > 0 AND EXISTS (SELECT 1 FROM moved) ORDER BY chain.k
"""

_FRESH = """, fresh (k, {columns}) AS (
    VALUES {rows}
), inserted AS (
    INSERT INTO audit_event (id, {columns}, seq, prev_hash, hash)
    SELECT chain.id, {fresh_columns}, chain.seq, chain.prev_hash, chain.hash
    FROM chain JOIN fresh ON fresh.k = chain.k
)"""


def canonical_parts(fields: Mapping[str, Any]) -> tuple[bytes, bytes]:
    """:func:`canonical` of ``fields`` in two parts, before and after the event's id (which
    goes between them as its decimal digits): the content of an event whose id the database
    gives it while hashing it."""
    body = {name: _plain(fields.get(name)) for name in _FRESH_COLUMNS}

    def dump(part: dict[str, Any]) -> bytes:
        return json.dumps(part, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          default=str).encode("utf-8")

    before = dump({k: v for k, v in body.items() if k < "id"})
    after = dump({k: v for k, v in body.items() if k > "id"})
    return before[:-1] + b',"id":', b"," + after[1:]


@functools.lru_cache(maxsize=64)
def _seal_statement(inserted: int, fresh: int) -> TextClause:
    """The text of :data:`_SEAL_IN_ONE` for ``inserted`` events already in the table and then
    ``fresh`` ones to insert (cached: SQLAlchemy then caches its compiled form too)."""
    rows = ", ".join(
        f"({k}, CAST(:id_{k} AS bigint), CAST(:before_{k} AS bytea), CAST(:after_{k} AS bytea))"
        if k <= inserted else f"({k}, NULL::bigint, CAST(:before_{k} AS bytea), CAST(:after_{k} AS bytea))"
        for k in range(1, inserted + fresh + 1))
    binds = [bindparam("now", type_=_head.c.updated_at.type)]
    fresh_sql = ""
    if fresh:
        columns = ", ".join(_FRESH_COLUMNS)
        values = []
        for k in range(inserted + 1, inserted + fresh + 1):
            cells = []
            for name in _FRESH_COLUMNS:
                column = _events.c[name]
                sql_type = column.type.dialect_impl(_PG_DIALECT).compile(dialect=_PG_DIALECT)
                cells.append(f"CAST(:{name}_{k} AS {sql_type})")
                binds.append(bindparam(f"{name}_{k}", type_=column.type))
            values.append(f"({k}, {', '.join(cells)})")
        fresh_sql = _FRESH.format(columns=columns, rows=", ".join(values),
                                  fresh_columns=", ".join(f"fresh.{name}" for name in _FRESH_COLUMNS))
    return text(_SEAL_IN_ONE.format(rows=rows, fresh=fresh_sql)).bindparams(*binds)


def _seal_in_one(session: Session, ordered: list[AuditEvent], unflushed: list[AuditEvent]) -> bool:
    """Seal ``ordered`` (inserted) and insert and seal ``unflushed`` after them, in one statement
    (PostgreSQL); False, having changed nothing, when the head row is missing (a new or emptied
    table: lock_head creates it)."""
    params: dict[str, Any] = {"head_id": HEAD_ID, "version": VERSION, "now": clock.now()}
    for k, event_row in enumerate([*ordered, *unflushed], start=1):
        fields = {name: getattr(event_row, name) for name in HASHED_FIELDS}
        before, after = canonical_parts(fields)
        params[f"before_{k}"], params[f"after_{k}"] = b"\n" + before, after
        if k <= len(ordered):
            params[f"id_{k}"] = event_row.id
        else:
            params.update({f"{name}_{k}": fields[name] for name in _FRESH_COLUMNS})
    links = session.execute(_seal_statement(len(ordered), len(unflushed)), params).all()
    if not links:
        return False
    for event_row, link in zip(unflushed, links[len(ordered):], strict=True):
        # the event as inserted (it left the session before the flush: nothing to expire)
        event_row.id, event_row.seq, event_row.prev_hash, event_row.hash = link.id, link.seq, link.prev_hash, link.hash
    return True


def _expire_seals(session: Session, pending: list[AuditEvent]) -> None:
    for event_row in pending:
        if object_session(event_row) is session:
            session.expire(event_row, ["seq", "prev_hash", "hash"])


@event.listens_for(Session, "before_commit")
def _seal_before_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint: the events are sealed when the whole transaction commits
    seal(session)


@event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session: Session, previous: Any) -> None:
    if previous.parent is None:
        session.info.pop(PENDING_KEY, None)


# ---------------------------------------------------------------------------- verification


@dataclass(frozen=True)
class Finding:
    """The first thing wrong with the chain.

    ``kind``: ``edited`` (content changed), ``deleted`` (events missing before ``seq``),
    ``inserted`` (an event that is not part of the chain), ``reordered`` (an event before the
    one it follows), ``rewritten`` (the event before ``seq`` no longer has the hash its
    successor names: edited with a recomputed hash, or deleted and the rest renumbered),
    ``truncated`` (the chain ends before a head that was published or stored), ``unsealed``
    (an event outside the chain)."""

    kind: str
    seq: int | None
    event_id: int | None
    detail: str


@dataclass
class Verification:
    checked: int = 0
    last_seq: int = 0
    last_hash: str = GENESIS
    stored_head: tuple[int, str] = (0, GENESIS)
    finding: Finding | None = None
    published_checked: list[tuple[int, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.finding is None


HEAD_LINE = re.compile(r"seq=(\d+)\s+hash=([0-9a-f]{64})")


def parse_heads(lines: Iterable[str]) -> list[tuple[int, str]]:
    """Published heads (``seq=N hash=H`` anywhere on a line, e.g. the daily log's lines)."""
    heads = []
    for line in lines:
        match = HEAD_LINE.search(line)
        if match:
            heads.append((int(match.group(1)), match.group(2)))
    return heads


def _chain_rows(conn: Connection, batch: int) -> Generator[Any, None, None]:
    columns = [*_HASHED_COLUMNS, _events.c.seq, _events.c.prev_hash, _events.c.hash]
    result = conn.execution_options(stream_results=True, yield_per=batch).execute(
        select(*columns).where(_events.c.seq.is_not(None)).order_by(_events.c.seq))
    try:
        yield from result
    finally:
        result.close()


def _owner(conn: Connection, digest: str | None) -> Any:
    if digest is None:
        return None
    return conn.execute(select(_events.c.id, _events.c.seq).where(_events.c.hash == digest)).first()


def _diagnose(conn: Connection, row: Any, nxt: Any, prev: Any, expected_prev: str, expected_seq: int) -> Finding:
    """What is wrong at ``row``, the first event that does not continue the chain."""
    if event_hash(row._mapping, row.prev_hash or "") != row.hash:
        if nxt is not None and nxt.prev_hash == expected_prev:
            return Finding("inserted", row.seq, row.id,
                           "the event does not belong to the chain: the next event follows the one before it")
        return Finding("edited", row.seq, row.id, "the event's content no longer matches its hash")
    if row.prev_hash == expected_prev:
        return Finding("edited", row.seq, row.id, f"the event's position was changed (seq {expected_seq} expected)")
    owner = _owner(conn, row.prev_hash)
    if owner is None:
        if row.seq > expected_seq:
            return Finding("deleted", expected_seq, row.id,
                           f"events seq {expected_seq}–{row.seq - 1} are missing before event seq {row.seq}")
        return Finding("rewritten", row.seq, row.id,
                       "the event before this one no longer has the hash this event names "
                       "(edited with a recomputed hash, or deleted and the rest renumbered)")
    if owner.seq > row.seq:
        return Finding("reordered", row.seq, row.id,
                       f"the event comes before the event it follows (seq {owner.seq}, id {owner.id})")
    if prev is not None and row.prev_hash == prev.prev_hash:
        return Finding("inserted", prev.seq, prev.id,
                       "the event does not belong to the chain: the next event follows the one before it")
    return Finding("reordered", row.seq, row.id, f"the event follows seq {owner.seq}, not seq {expected_seq - 1}")


def verify(conn: Connection, published: Iterable[tuple[int, str]] = (), batch: int = 5000) -> Verification:
    """Walk the chain in ``seq`` order (streaming: constant memory) and report the first
    problem; then compare its end with the stored head and with ``published`` heads, and look
    for events outside the chain."""
    result = Verification(stored_head=current_head(conn))
    expected_prev, expected_seq, prev = GENESIS, 1, None
    rows = _chain_rows(conn, batch)
    row = next(rows, None)
    while row is not None:
        nxt = next(rows, None)
        if not (row.prev_hash == expected_prev and row.seq == expected_seq
                and event_hash(row._mapping, row.prev_hash or "") == row.hash):
            result.finding = _diagnose(conn, row, nxt, prev, expected_prev, expected_seq)
            rows.close()
            return result
        result.checked += 1
        result.last_seq, result.last_hash = row.seq, row.hash
        expected_prev, expected_seq, prev = row.hash, row.seq + 1, row
        row = nxt
    result.finding = _check_ends(conn, result, published)
    return result


def _check_ends(conn: Connection, result: Verification, published: Iterable[tuple[int, str]]) -> Finding | None:
    heads = sorted(set(published))
    for seq, digest in heads:
        result.published_checked.append((seq, digest))
        if seq > result.last_seq:
            return Finding("truncated", result.last_seq + 1, None,
                           f"a published head names seq {seq}, but the chain ends at seq {result.last_seq}")
        if seq > 0:
            stored = conn.execute(select(_events.c.hash).where(_events.c.seq == seq)).scalar()
            if stored != digest:
                return Finding("rewritten", seq, None, f"the chain at seq {seq} differs from the published head")
    head_seq, head_hash = result.stored_head
    if head_seq > result.last_seq:
        return Finding("truncated", result.last_seq + 1, None,
                       f"the stored head names seq {head_seq}, but the chain ends at seq {result.last_seq}")
    if head_seq < result.last_seq or head_hash != result.last_hash:
        return Finding("inserted", head_seq + 1, None,
                       f"the chain goes on after the stored head (seq {head_seq}) or differs from it")
    unsealed = conn.execute(select(_events.c.id).where(_events.c.seq.is_(None)).order_by(_events.c.id).limit(1)).first()
    if unsealed is not None:
        return Finding("unsealed", None, unsealed.id, "an event outside the chain (no seq and hash)")
    return None


def event_count(conn: Connection | Session) -> int:
    return conn.execute(select(func.count()).select_from(_events)).scalar() or 0


__all__ = [
    "GENESIS", "HASHED_FIELDS", "Finding", "Verification", "canonical", "current_head", "event_hash", "lock_head",
    "parse_heads", "remember", "seal", "verify",
]
