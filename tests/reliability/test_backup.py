"""`flask backup` / `flask restore`: into a fresh database, cases, attachments and the audit
trail read back, the chain verifies; a database with data is refused unless forced."""

from __future__ import annotations

import io
import tarfile
import uuid
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from app.data.db import Database
from app.data.models import Case
from app.services import attachments
from app.services.backup import MANIFEST, BackupError, Manifest, restore, table_counts
from tests.api.helpers import VERIFY_OK, auth, case_detail, complete, create_case
from tests.conftest import BACKEND, FIXTURES, PG_ADMIN, login


@contextmanager
def fresh_database(tmp_path: Path):
    """An empty database of the suite's kind (not migrated: the dump brings the schema)."""
    if BACKEND == "postgres":
        name = f"fbrestore_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}"
        try:
            yield url
        finally:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
                conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    else:
        yield f"sqlite:///{tmp_path / f'restored-{uuid.uuid4().hex[:6]}.db'}"


def _app_on(url: str, upload_dir: Path):
    from app import create_app
    from config import TestConfig

    class Cfg(TestConfig):
        DATABASE_URL = url
        BPMN_DIR = str(FIXTURES / "bpmn")
        FORMS_DIR = str(FIXTURES / "forms")
        UPLOAD_DIR = str(upload_dir)

    return create_app(Cfg)


class _Upload:
    def __init__(self, data: bytes, name: str) -> None:
        self.stream, self.filename, self.content_type = io.BytesIO(data), name, "image/png"


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _case_with_history_and_photo(app, client, database) -> tuple[dict, dict]:
    headers = auth(client, "marketing", lang="en")
    case = create_case(client, headers)
    [task] = case_detail(client, headers, case["id"])["open_tasks"]
    assert complete(client, headers, task["id"], VERIFY_OK).status_code == 200
    photo = attachments.store(app.config["UPLOAD_DIR"], _Upload(PNG, "缺陷照片.png"))
    with database.transaction() as session:  # a photo on the case, as the public form stores it
        row = session.get(Case, case["id"])
        row.data = {**(row.data or {}), "photos": [photo]}
    return case, photo


def test_backup_restores_into_a_fresh_database_with_cases_files_and_a_verified_trail(app, client, database, tmp_path):
    case, photo = _case_with_history_and_photo(app, client, database)
    before = case_detail(client, auth(client, "marketing"), case["id"])
    archive = tmp_path / "backup.tar.gz"
    result = app.test_cli_runner().invoke(args=["backup", str(archive)])
    assert result.exit_code == 0, result.output
    with tarfile.open(archive) as tar:
        manifest = Manifest.from_json(tar.extractfile(MANIFEST).read())
        assert f"uploads/{photo['sha256']}" in tar.getnames()
    assert manifest.audit_head["seq"] > 0 and manifest.counts["feedback_case"] == 1

    with fresh_database(tmp_path) as url:
        restored = _app_on(url, tmp_path / "restored-uploads")
        try:
            result = restored.test_cli_runner().invoke(args=["restore", str(archive)])
            assert result.exit_code == 0, result.output
            assert "audit chain verified" in result.output
            assert table_counts(restored.extensions["database"]) == manifest.counts
            verify = restored.test_cli_runner().invoke(args=["audit", "verify", "--head",
                                                             f"{manifest.audit_head['seq']}:{manifest.audit_head['hash']}"])
            assert verify.exit_code == 0 and "OK: the audit chain is intact" in verify.output, verify.output
            rclient = restored.test_client()
            after = case_detail(rclient, auth(rclient, "marketing"), case["id"])
            assert after["number"] == before["number"] and after["data"] == before["data"]
            assert after["history"] == before["history"] and after["open_tasks"] == before["open_tasks"]
            login(rclient, "marketing")
            download = rclient.get(f"/files/{photo['sha256']}")
            assert download.status_code == 200 and download.data == PNG
            # the restored database is a working one: the case's process runs on
            [task] = after["open_tasks"]
            assert task["status"] == "open"
        finally:
            restored.extensions["database"].dispose()


def test_restore_refuses_a_database_with_data_unless_forced(app, client, database, tmp_path):
    case, _photo = _case_with_history_and_photo(app, client, database)
    archive = tmp_path / "backup.tar.gz"
    assert app.test_cli_runner().invoke(args=["backup", str(archive)]).exit_code == 0
    later = create_case(client, auth(client, "marketing"))  # made after the backup: gone after --force
    refused = app.test_cli_runner().invoke(args=["restore", str(archive)])
    assert refused.exit_code != 0 and "already holds data" in refused.output
    assert app.test_cli_runner().invoke(args=["restore", "--force", str(archive)]).exit_code == 0
    check = Database(database.url)
    try:
        with check.session() as session:
            assert session.get(Case, case["id"]) is not None and session.get(Case, later["id"]) is None
    finally:
        check.dispose()


def test_a_damaged_archive_is_refused(app, database, tmp_path):
    archive = tmp_path / "backup.tar.gz"
    assert app.test_cli_runner().invoke(args=["backup", str(archive)]).exit_code == 0
    damaged = tmp_path / "damaged.tar.gz"
    with tarfile.open(archive) as src, tarfile.open(damaged, "w:gz") as out:
        for member in src.getmembers():
            data = src.extractfile(member).read()
            if member.name.startswith("database."):
                data = data[:-10] + b"x" * 10
            member.size = len(data)
            out.addfile(member, io.BytesIO(data))
    with fresh_database(tmp_path) as url:
        target = Database(url)
        try:
            with pytest.raises(BackupError, match="damaged"):
                restore(target, tmp_path / "u", damaged)
        finally:
            target.dispose()
