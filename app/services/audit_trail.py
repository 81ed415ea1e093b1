"""The audit trail for auditors: filtering and paging the events, exports that stream in
constant memory (CSV, Excel, JSON) with their progress and the chain head they were taken at,
the readable difference of an event's data, verifying the chain, and publishing its head.

Exports read the events with a server-side cursor on a connection of their own, write each
row out and forget it; only ``seq <= head`` is exported, so an export is a snapshot of the
chain as it was when it was asked for, however long it takes and whatever is written meanwhile.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from sqlalchemy import Select, String, and_, cast, func, or_, select, update
from sqlalchemy.orm import Session

from app.clock import clock, local_zone
from app.data.db import Database
from app.data.models import AuditEvent, AuditExport, Case, Department, HumanTask, ProcessDefinition, User
from app.engine import audit, audit_chain
from app.engine.errors import NotFound
from app.i18n import N_
from app.services import accounts, policy
from app.services.errors import InvalidInput

log = logging.getLogger(__name__)

FORMATS = {
    "csv": ("text/csv; charset=utf-8", "csv"),
    "json": ("application/json", "json"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
}
#: the columns of a CSV or Excel export, in order
EXPORT_FIELDS = (
    "seq", "id", "at", "actor", "actor_id", "actor_roles", "actor_departments", "channel", "client_address",
    "user_agent", "action", "case_id", "case_number", "process", "instance_id", "task_id", "element", "message",
    "changes", "data_before", "data_after", "prev_hash", "hash",
)
#: a cell starting with one of these is read as a formula by spreadsheets
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PROGRESS_EVERY_ROWS = 5000
PROGRESS_EVERY_SECONDS = 1.0
FETCH_BATCH = 1000
CSV_CHUNK_ROWS = 500
EXCEL_MAX_ROWS = 1_048_575  # a sheet's rows, less its header
PAGE_SIZE = 50

_events = AuditEvent.__table__


# ---------------------------------------------------------------------------- filters


@dataclass(frozen=True)
class AuditFilter:
    """What an auditor asked for; dates are local calendar days, both inclusive."""

    date_from: date | None = None
    date_to: date | None = None
    case_id: int | None = None
    department: str | None = None
    user_id: int | None = None
    action: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None) -> AuditFilter:
        values = dict(values or {})
        for key in ("date_from", "date_to"):
            if values.get(key):
                values[key] = date.fromisoformat(values[key])
        return cls(**{k: v for k, v in values.items() if k in cls.__dataclass_fields__})


def _day(value: str, message: str) -> date | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise InvalidInput(message) from None


def parse_filter(session: Session, args: Mapping[str, str]) -> AuditFilter:
    """The filter of a query string: ``from``/``to`` (YYYY-MM-DD), ``case`` (id or number),
    ``department`` (code), ``user`` (id or username), ``action``. Raises InvalidInput."""
    date_from = _day(args.get("from", ""), N_("Give the dates as YYYY-MM-DD."))
    date_to = _day(args.get("to", ""), N_("Give the dates as YYYY-MM-DD."))
    if date_from and date_to and date_to < date_from:
        raise InvalidInput(N_("The end date must not be before the start date."))
    case_id = None
    case_text = (args.get("case") or "").strip()[:40]
    if case_text:
        found = session.scalar(select(Case.id).where(Case.number == case_text))
        if found is None and case_text.isascii() and case_text.isdigit() and int(case_text) < 2**31:
            found = session.scalar(select(Case.id).where(Case.id == int(case_text)))
        if found is None:
            raise InvalidInput(N_("There is no case with this number."))
        case_id = found
    department = (args.get("department") or "").strip()[:40] or None
    if department and session.scalar(select(Department.id).where(Department.code == department)) is None:
        raise InvalidInput(N_("Unknown department."))
    user_id = None
    user_text = (args.get("user") or "").strip()[:80]
    if user_text:
        user_id = session.scalar(select(User.id).where(User.username == user_text))
        if user_id is None and user_text.isascii() and user_text.isdigit() and int(user_text) < 2**31:
            user_id = session.scalar(select(User.id).where(User.id == int(user_text)))
        if user_id is None:
            raise InvalidInput(N_("Unknown user."))
    action = (args.get("action") or "").strip()[:60] or None
    return AuditFilter(date_from, date_to, case_id, department, user_id, action)


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, dtime.min, tzinfo=local_zone()).astimezone(UTC)


def _conditions(f: AuditFilter, head_seq: int | None) -> list[Any]:
    where: list[Any] = [_events.c.seq.is_not(None)]
    if head_seq is not None:
        where.append(_events.c.seq <= head_seq)
    if f.date_from:
        where.append(_events.c.at >= _local_midnight(f.date_from))
    if f.date_to:
        where.append(_events.c.at < _local_midnight(f.date_to + timedelta(days=1)))
    if f.case_id is not None:
        where.append(_events.c.case_id == f.case_id)
    if f.user_id is not None:
        where.append(_events.c.actor_id == f.user_id)
    if f.action:
        where.append(_events.c.action == f.action)
    if f.department:
        # done by a member of the department at that moment, or about one of its tasks
        tasks = select(HumanTask.id).join(Department, Department.id == HumanTask.department_id).where(
            Department.code == f.department)
        where.append(or_(_events.c.actor_departments.contains(f",{f.department},", autoescape=True),
                         _events.c.task_id.in_(tasks)))
    return where


def events_select(f: AuditFilter, head_seq: int | None = None) -> Select[Any]:
    """The filtered events with their case number and process version, in chain order."""
    return (
        select(_events, Case.number.label("case_number"),
               (ProcessDefinition.key + " v" + cast(ProcessDefinition.version, String(12))).label("process"))
        .select_from(_events)
        .outerjoin(Case, Case.id == _events.c.case_id)
        .outerjoin(ProcessDefinition, ProcessDefinition.id == _events.c.definition_id)
        .where(and_(*_conditions(f, head_seq)))
        .order_by(_events.c.seq)
    )


def count_events(session: Session, f: AuditFilter, head_seq: int | None = None) -> int:
    stmt = select(func.count()).select_from(_events).where(and_(*_conditions(f, head_seq)))
    return session.scalar(stmt) or 0


@dataclass
class Page:
    rows: list[dict[str, Any]]
    older: int | None  # the ``before`` of the next (older) page, if there is one
    total: int


def page(session: Session, user: User, f: AuditFilter, before: int | None = None, size: int = PAGE_SIZE) -> Page:
    """One page of the filtered events, newest first, by chain position (keyset paging:
    ``before`` is the ``seq`` the page starts below)."""
    policy.require(policy.may_explore_audit(user), N_("Only auditors and administrators may read the audit trail."))
    stmt = events_select(f).order_by(None).order_by(_events.c.seq.desc())
    if before is not None:
        stmt = stmt.where(_events.c.seq < before)
    rows = [event_row(r._mapping) for r in session.execute(stmt.limit(size + 1))]
    older = rows[size - 1]["seq"] if len(rows) > size else None
    return Page(rows[:size], older, count_events(session, f))


# ---------------------------------------------------------------------------- one event as a row


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _short(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def changes(before: Any, after: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """The readable difference of an event's data: (field, before, after) for every field that
    differs, nested objects flattened as ``a.b``; unchanged fields are left out."""
    if isinstance(before, dict) or isinstance(after, dict):
        old = before if isinstance(before, dict) else {}
        new = after if isinstance(after, dict) else {}
        if not isinstance(before, dict) and before is not None or not isinstance(after, dict) and after is not None:
            return [(prefix or "value", before, after)]
        found = []
        for key in sorted(set(old) | set(new), key=str):
            if old.get(key) != new.get(key):
                found += changes(old.get(key), new.get(key), f"{prefix}.{key}" if prefix else str(key))
        return found
    return [] if before == after else [(prefix or "value", before, after)]


def changes_text(before: Any, after: Any) -> str:
    """``field: before → after; …`` (``—`` for nothing)."""
    return "; ".join(f"{name}: {_short(old)} → {_short(new)}" for name, old, new in changes(before, after))


def _listed(value: str | None) -> list[str]:
    return [v for v in (value or "").split(",") if v]


def event_row(m: Mapping[Any, Any]) -> dict[str, Any]:
    """An event (a row of :func:`events_select`) as plain values, for pages and exports."""
    return {
        "seq": m["seq"], "id": m["id"], "at": iso(m["at"]), "actor": m["actor_label"], "actor_id": m["actor_id"],
        "actor_roles": _listed(m["actor_roles"]), "actor_departments": _listed(m["actor_departments"]),
        "channel": m["channel"], "client_address": m["client_address"], "user_agent": m["user_agent"],
        "action": m["action"], "case_id": m["case_id"], "case_number": m.get("case_number"),
        "process": m.get("process"), "instance_id": m["instance_id"], "definition_id": m["definition_id"],
        "task_id": m["task_id"], "element": m["element"], "message": m["message"],
        "changes": changes_text(m["data_before"], m["data_after"]),
        "data_before": m["data_before"], "data_after": m["data_after"],
        "prev_hash": m["prev_hash"], "hash": m["hash"],
    }


# ---------------------------------------------------------------------------- exports


def record_export(session: Session, user: User, action: str, what: str, **fields: Any) -> None:
    """Audit that ``user`` exported something (who exported what), in the caller's transaction."""
    audit.record(session, actor=accounts.actor(user), action=action, message=what, **fields)


def start_export(session: Session, user: User, f: AuditFilter, fmt: str, *, case: Case | None = None) -> AuditExport:
    """Register an export of the events ``f`` selects, taken at the current chain head, and audit
    it (``audit_exported``). The trail of one case (``case``) may be exported by whoever may see
    that case (checked by the caller); everything else by auditors and administrators."""
    if case is None:
        policy.require(policy.may_explore_audit(user),
                       N_("Only auditors and administrators may export the audit trail."))
    if fmt not in FORMATS:
        raise InvalidInput(N_("Unknown format; use csv, xlsx or json."))
    head_seq, head_hash = audit_chain.current_head(session)
    total = count_events(session, f, head_seq)
    export = AuditExport(requested_by_id=user.id, requested_at=clock.now(), format=fmt, filters=f.as_dict(),
                         head_seq=head_seq, head_hash=head_hash, total=total, written=0)
    session.add(export)
    session.flush()
    record_export(session, user, "audit_exported", f"{fmt}, {total} events", case_id=f.case_id,
                  after={"export_id": export.id, "format": fmt, "filters": f.as_dict(), "total": total,
                         "chain_head": {"seq": head_seq, "hash": head_hash}})
    return export


def get_export(session: Session, user: User, export_id: int) -> AuditExport:
    """An export, for the user who asked for it or any reader of the whole trail."""
    export = session.get(AuditExport, export_id)
    if export is None or (export.requested_by_id != user.id and not policy.may_explore_audit(user)):
        raise NotFound(N_("Export not found."))
    return export


def export_filename(export: AuditExport, stem: str = "audit") -> str:
    return f"{stem}-head{export.head_seq}-{export.requested_at:%Y%m%d-%H%M%S}.{FORMATS[export.format][1]}"


def export_header(export: AuditExport) -> dict[str, Any]:
    return {"chain_head": {"seq": export.head_seq, "hash": export.head_hash},
            "taken_at": iso(export.requested_at), "filters": export.filters or {}, "total": export.total}


def _rows(database: Database, export: AuditExport) -> Iterator[dict[str, Any]]:
    stmt = events_select(AuditFilter.from_dict(export.filters), export.head_seq)
    with database.engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=FETCH_BATCH).execute(stmt)
        for row in result:
            yield event_row(row._mapping)


class _Progress:
    """Writes how far an export got, at most every second or every few thousand rows."""

    def __init__(self, database: Database, export_id: int) -> None:
        self.database, self.export_id = database, export_id
        self.written, self.saved, self.saved_at = 0, 0, time.monotonic()

    def step(self) -> None:
        self.written += 1
        if self.written - self.saved >= PROGRESS_EVERY_ROWS or (
                self.written % 100 == 0 and time.monotonic() - self.saved_at >= PROGRESS_EVERY_SECONDS):
            self.save()

    def save(self, finished: bool = False) -> None:
        values: dict[str, Any] = {"written": self.written}
        if finished:
            values["finished_at"] = clock.now()
        with self.database.engine.begin() as conn:
            conn.execute(update(AuditExport).where(AuditExport.id == self.export_id).values(**values))
        self.saved, self.saved_at = self.written, time.monotonic()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        value = ",".join(str(v) for v in value)
    text = value if isinstance(value, str) else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def _json_text(value: Any) -> str:
    return "" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _flat(row: dict[str, Any]) -> list[str]:
    return [_json_text(row[name]) if name in ("data_before", "data_after") else _cell(row[name])
            for name in EXPORT_FIELDS]


def head_line(header: Mapping[str, Any]) -> str:
    """The first line of a CSV export: the chain head it was taken at (``seq=… hash=…``, the
    form ``flask audit verify --published`` reads), when and with which filters."""
    head = header["chain_head"]
    extra = "".join(f" {k}={v}" for k, v in header.items() if k not in ("chain_head", "filters", "events"))
    return (f"# audit trail chain head seq={head['seq']} hash={head['hash']}{extra}"
            f" filters={json.dumps(header.get('filters') or {}, ensure_ascii=False, sort_keys=True)}\r\n")


def write_csv(rows: Iterator[dict[str, Any]], header: Mapping[str, Any], step: Callable[[], None]) -> Iterator[bytes]:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    out.write("\ufeff" + head_line(header))
    writer.writerow(EXPORT_FIELDS)
    pending = 0
    for row in rows:
        writer.writerow(_flat(row))
        step()
        pending += 1
        if pending >= CSV_CHUNK_ROWS:
            yield out.getvalue().encode("utf-8")
            out.seek(0)
            out.truncate()
            pending = 0
    yield out.getvalue().encode("utf-8")


def write_json(rows: Iterator[dict[str, Any]], header: Mapping[str, Any], step: Callable[[], None]) -> Iterator[bytes]:
    head = json.dumps(dict(header), ensure_ascii=False)
    yield (head[:-1] + (", " if len(header) else "") + '"events": [').encode("utf-8")
    buffer, first = [], True
    for row in rows:
        buffer.append(("\n" if first else ",\n") + json.dumps(row, ensure_ascii=False, default=str))
        first = False
        step()
        if len(buffer) >= CSV_CHUNK_ROWS:
            yield "".join(buffer).encode("utf-8")
            buffer = []
    buffer.append("\n]}\n")
    yield "".join(buffer).encode("utf-8")


def write_xlsx(rows: Iterator[dict[str, Any]], header: Mapping[str, Any], step: Callable[[], None]) -> Iterator[bytes]:
    """An Excel workbook written row by row (openpyxl's write-only mode keeps no rows and writes
    strings inline), the chain head on its own sheet; streamed once it is complete."""
    workbook = Workbook(write_only=True)
    chain = workbook.create_sheet("chain")
    head = header["chain_head"]
    for key, value in (("chain head seq", head["seq"]), ("chain head hash", head["hash"]),
                       *((k, v) for k, v in header.items() if k not in ("chain_head", "filters")),
                       ("filters", json.dumps(header.get("filters") or {}, ensure_ascii=False, sort_keys=True))):
        chain.append([key, _cell(value)])
    sheet: Any = None
    count, number = EXCEL_MAX_ROWS, 0
    for row in rows:
        if count >= EXCEL_MAX_ROWS:
            number += 1
            sheet = workbook.create_sheet("events" if number == 1 else f"events {number}")
            sheet.append(list(EXPORT_FIELDS))
            count = 0
        sheet.append(_flat(row))
        count += 1
        step()
    if sheet is None:
        workbook.create_sheet("events").append(list(EXPORT_FIELDS))
    with tempfile.TemporaryFile() as spool:
        workbook.save(spool)
        spool.seek(0)
        while chunk := spool.read(256 * 1024):
            yield chunk


WRITERS = {"csv": write_csv, "json": write_json, "xlsx": write_xlsx}


def stream_export(database: Database, export: AuditExport, extra_header: Mapping[str, Any] | None = None
                  ) -> Iterator[bytes]:
    """The export's bytes, produced as they are read; progress is saved as it goes."""
    progress = _Progress(database, export.id)
    header = {**export_header(export), **(extra_header or {})}
    yield from WRITERS[export.format](_rows(database, export), header, progress.step)
    progress.save(finished=True)


# ---------------------------------------------------------------------------- chain


def chain_head(session: Session) -> tuple[int, str]:
    """The chain head as last committed: ``(seq, hash)``."""
    return audit_chain.current_head(session)


def parse_published(text: str) -> list[tuple[int, str]]:
    """Published heads in pasted text (a daily log, an export's first line)."""
    return audit_chain.parse_heads(text.splitlines())


def verify_chain(database: Database, published: list[tuple[int, str]] | None = None) -> audit_chain.Verification:
    with database.engine.connect() as conn:
        return audit_chain.verify(conn, published or [])


def publish_head(database: Database, path: str | Path | None) -> tuple[int, str]:
    """Write the chain head to the log and append it to ``path`` (the daily job): a head kept
    outside the database reveals a truncated or rewritten trail later."""
    with database.session() as session:
        seq, digest = audit_chain.current_head(session)
    line = f"{iso(clock.now())} audit chain head seq={seq} hash={digest}"
    log.info(line)
    if path:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("a", encoding="utf-8") as out:
            out.write(line + "\n")
    return seq, digest


__all__ = [
    "EXPORT_FIELDS", "FORMATS", "AuditFilter", "Page", "chain_head", "changes", "changes_text", "count_events",
    "event_row", "events_select", "export_filename", "export_header", "get_export", "page", "parse_filter",
    "parse_published", "publish_head", "record_export", "start_export", "stream_export", "verify_chain",
]
