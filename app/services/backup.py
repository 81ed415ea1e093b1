"""Backup and restore: the database and the upload directory in one archive, checked on restore.

An archive is a gzip'd tar with three parts:

- ``manifest.json``: format, time, database kind, Alembic revision, the audit chain head
  (seq and hash), the row count of every table, the uploads and the dump's SHA-256;
- ``database.sqlite`` (SQLite's online backup API: a consistent copy while the app runs) or
  ``database.pgdump`` (``pg_dump --format=custom``, one consistent snapshot);
- ``uploads/<sha256>``: the stored attachments (their names are their content hashes).

Restoring refuses a database that already holds data unless forced, loads the dump
(SQLite backup API into the target file, ``pg_restore`` on PostgreSQL), copies the uploads
back and then checks the result against the manifest: the same revision, the same row counts,
the same audit chain head, and a chain that verifies. Nothing here imports Flask.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, inspect, select, table, text
from sqlalchemy.engine import make_url

from app.clock import clock
from app.data.db import Base, Database
from app.engine import audit_chain
from app.errors import AppError

FORMAT = 1
MANIFEST = "manifest.json"
UPLOADS = "uploads/"
DUMPS = {"sqlite": "database.sqlite", "postgresql": "database.pgdump"}


class BackupError(AppError):
    """A backup cannot be made or an archive cannot be restored (the message says why)."""

    code = "backup_error"


@dataclass
class Manifest:
    dialect: str
    revision: str | None
    audit_head: dict[str, Any]
    counts: dict[str, int]
    uploads: list[str]
    dump_sha256: str = ""
    created_at: str = ""
    format: int = FORMAT
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> bytes:
        return json.dumps(self.__dict__, indent=2, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        values = json.loads(data)
        if values.get("format") != FORMAT:
            raise BackupError(f"unknown archive format {values.get('format')!r} (this version reads {FORMAT})")
        return cls(**values)


# ------------------------------------------------------------------------------ facts


def _revision(database: Database) -> str | None:
    with database.engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def table_counts(database: Database) -> dict[str, int]:
    """Rows per application table (tables the schema does not have yet count as absent)."""
    with database.engine.connect() as conn:
        present = set(inspect(conn).get_table_names())
        return {name: int(conn.execute(select(func.count()).select_from(table(name))).scalar() or 0)
                for name in sorted(Base.metadata.tables) if name in present}


def _head(database: Database) -> dict[str, Any]:
    with database.session() as session:
        seq, digest = audit_chain.current_head(session)
    return {"seq": seq, "hash": digest}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        for chunk in iter(lambda: source.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _libpq_url(database: Database) -> str:
    """The SQLAlchemy URL as libpq understands it (no ``+psycopg`` driver part)."""
    url = make_url(database.url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def _run(command: list[str], what: str) -> None:
    if shutil.which(command[0]) is None:
        raise BackupError(f"{command[0]} is not installed: install the PostgreSQL client tools (postgresql-client)")
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603 - fixed program
    if done.returncode != 0:
        raise BackupError(f"{what} failed: {done.stderr.strip() or done.stdout.strip()}")


def _sqlite_path(database: Database) -> Path:
    name = make_url(database.url).database
    if not name or name == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up or restored")
    return Path(name)


# ------------------------------------------------------------------------------ backup


def _dump(database: Database, target: Path) -> None:
    if database.dialect == "sqlite":
        source = sqlite3.connect(_sqlite_path(database))
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)  # the online backup API: consistent while others write
        finally:
            copy.close()
            source.close()
    elif database.dialect == "postgresql":
        _run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--file={target}",
              f"--dbname={_libpq_url(database)}"], "pg_dump")
    else:
        raise BackupError(f"backups of {database.dialect} databases are not supported")


def backup(database: Database, upload_dir: str | Path, archive: str | Path) -> Manifest:
    """Write the database and the uploads to ``archive`` (a .tar.gz); return its manifest.

    The dump is taken before the facts in the manifest are read, so under load the manifest may
    trail the dump (never the other way round); restore checks the restored database against
    the manifest only for what the dump must contain at least.
    """
    folder = Path(upload_dir)
    uploads = sorted(p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")) \
        if folder.is_dir() else []
    with tempfile.TemporaryDirectory(prefix="backup-") as work:
        dump = Path(work) / DUMPS.get(database.dialect, "database")
        manifest = Manifest(dialect=database.dialect, revision=_revision(database), audit_head=_head(database),
                            counts=table_counts(database), uploads=uploads, created_at=clock.now().isoformat())
        _dump(database, dump)
        manifest.dump_sha256 = _sha256(dump)
        target = Path(archive)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        with tarfile.open(partial, "w:gz") as tar:
            info = tarfile.TarInfo(MANIFEST)
            body = manifest.as_json()
            info.size, info.mtime = len(body), int(clock.now().timestamp())
            tar.addfile(info, io.BytesIO(body))
            tar.add(dump, arcname=dump.name)
            for name in uploads:
                tar.add(folder / name, arcname=UPLOADS + name)
        os.replace(partial, target)  # a crash mid-write leaves no half archive under the real name
    return manifest


# ------------------------------------------------------------------------------ restore


def _holds_data(database: Database) -> bool:
    counts = table_counts(database)
    return any(counts.get(name, 0) for name in ("audit_event", "process_instance", "feedback_case", "user_account"))


def _load(database: Database, dump: Path, force: bool) -> None:
    if database.dialect == "sqlite":
        source = sqlite3.connect(dump)
        database.dispose()  # no pooled connection may keep the old content open
        target = sqlite3.connect(_sqlite_path(database))
        try:
            source.backup(target)
        finally:
            target.close()
            source.close()
    elif database.dialect == "postgresql":
        command = ["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
                   f"--dbname={_libpq_url(database)}"]
        if force:
            command.insert(1, "--clean")
            command.insert(2, "--if-exists")
        database.dispose()
        _run([*command, str(dump)], "pg_restore")
    else:
        raise BackupError(f"restoring {database.dialect} databases is not supported")


def _extract(tar: tarfile.TarFile, work: Path, upload_dir: Path) -> tuple[Manifest, Path]:
    manifest_member = tar.getmember(MANIFEST) if MANIFEST in tar.getnames() else None
    if manifest_member is None:
        raise BackupError("the archive has no manifest.json: not a backup of this application")
    reader = tar.extractfile(manifest_member)
    manifest = Manifest.from_json(reader.read() if reader else b"")
    dump_name = DUMPS.get(manifest.dialect)
    dump = work / "dump"
    upload_dir.mkdir(parents=True, exist_ok=True)
    for member in tar.getmembers():
        if not member.isfile():
            continue
        source = tar.extractfile(member)
        if source is None:
            continue
        if member.name == dump_name:
            with dump.open("wb") as out:
                shutil.copyfileobj(source, out)
        elif member.name.startswith(UPLOADS):
            name = member.name[len(UPLOADS):]
            if not name or "/" in name or name.startswith("."):  # stored names are hashes: nothing else
                raise BackupError(f"unexpected file in the archive: {member.name}")
            with (upload_dir / name).open("wb") as out:
                shutil.copyfileobj(source, out)
    if not dump.exists() or _sha256(dump) != manifest.dump_sha256:
        raise BackupError("the database dump is missing or damaged (its SHA-256 differs from the manifest)")
    return manifest, dump


def check_restored(database: Database, manifest: Manifest) -> audit_chain.Verification:
    """The restored database against the manifest; raises BackupError on any difference."""
    problems = []
    if (revision := _revision(database)) != manifest.revision:
        problems.append(f"schema revision {revision} instead of {manifest.revision}")
    counts = table_counts(database)
    problems += [f"{name}: {counts.get(name)} rows instead of {count}"
                 for name, count in manifest.counts.items() if counts.get(name, 0) < count]
    head = _head(database)
    if head["seq"] < manifest.audit_head["seq"]:
        problems.append(f"audit chain head seq={head['seq']} instead of {manifest.audit_head['seq']}")
    with database.engine.connect() as conn:
        verification = audit_chain.verify(conn, [(manifest.audit_head["seq"], manifest.audit_head["hash"])])
    if not verification.ok:
        finding = verification.finding
        problems.append(f"the audit chain does not verify: {finding.kind if finding else 'broken'}")
    if problems:
        raise BackupError("the restored database differs from the backup: " + "; ".join(problems))
    return verification


def restore(database: Database, upload_dir: str | Path, archive: str | Path, force: bool = False) -> Manifest:
    """Restore ``archive`` into ``database`` and ``upload_dir`` and check the result.

    A database that already holds cases, instances, users or audit events is refused unless
    ``force`` (then its content is replaced). The archive must come from the same kind of
    database.
    """
    source = Path(archive)
    if not source.is_file():
        raise BackupError(f"no such archive: {source}")
    if _holds_data(database) and not force:
        raise BackupError("the target database already holds data: restore into an empty database, "
                          "or pass --force to replace its content")
    with tempfile.TemporaryDirectory(prefix="restore-") as work, tarfile.open(source, "r:gz") as tar:
        manifest, dump = _extract(tar, Path(work), Path(upload_dir))
        if manifest.dialect != database.dialect:
            raise BackupError(f"the archive holds a {manifest.dialect} database; the target is {database.dialect}")
        _load(database, dump, force)
    check_restored(database, manifest)
    missing = [name for name in manifest.uploads if not (Path(upload_dir) / name).is_file()]
    if missing:
        raise BackupError(f"{len(missing)} uploads were not restored: {', '.join(missing[:5])}")
    return manifest
