"""The audit explorer and its exports: filters, paging, exports that match the database and
carry the chain head, progress, and who may export what."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

from openpyxl import load_workbook
from sqlalchemy import select

from app.clock import clock, local_zone
from app.data.models import AuditEvent, AuditExport
from app.engine import audit_chain
from tests.api.helpers import auth, create_case
from tests.audit.helpers import write_events
from tests.conftest import csrf_token
from tests.web.helpers import text, user_client


def _seeded(app, client, database):
    """A small trail: a case through the API, logins, and events of a test writer."""
    marketing = auth(client, "marketing")
    case = create_case(client, marketing)
    auth(client, "quality")
    write_events(database, 60, per_transaction=7)
    return case


def _db_rows(database, **where):
    with database.session() as s:
        stmt = select(AuditEvent).where(AuditEvent.seq.is_not(None)).order_by(AuditEvent.seq)
        for name, value in where.items():
            stmt = stmt.where(getattr(AuditEvent, name) == value)
        return list(s.scalars(stmt))


def test_the_explorer_filters_and_pages(app, client, database):
    case = _seeded(app, client, database)
    auditor = user_client(app, "auditor")
    page = auditor.get("/audit/")
    assert page.status_code == 200
    body = text(page)
    total = len(_db_rows(database))
    assert f'data-testid="audit-total">{total}<' in body
    assert body.count('data-testid="audit-row"') == 50 and 'data-testid="audit-older"' in body
    newest = _db_rows(database)[-1].seq
    assert f'data-seq="{newest}"' in body
    older = auditor.get(f"/audit/?before={newest - 49}")
    assert text(older).count('data-testid="audit-row"') == min(50, newest - 50)

    by_case = text(auditor.get(f"/audit/?case={case['number']}"))
    assert by_case.count('data-testid="audit-row"') == len(_db_rows(database, case_id=case["id"])) > 0
    logins = text(auditor.get("/audit/?action=login&user=quality"))
    assert logins.count('data-testid="audit-row"') == 1 and "质量部专员" in logins
    marketing_dept = text(auditor.get("/audit/?department=marketing"))
    rows = marketing_dept.count('data-testid="audit-row"')
    assert 0 < rows < total and 'data-action="test_event"' not in marketing_dept
    today = clock.now().astimezone(local_zone()).date()
    assert text(auditor.get(f"/audit/?from={today}&to={today}")).count('data-testid="audit-row"') == 50
    later = today + timedelta(days=1)
    assert 'data-testid="audit-empty"' in text(auditor.get(f"/audit/?from={later}"))
    bad = auditor.get(f"/audit/?from={today}&to={today - timedelta(days=1)}")
    assert bad.status_code == 400 and "结束日期不能早于开始日期" in text(bad)
    assert auditor.get("/audit/?case=NOPE-1").status_code == 400

    for username in ("marketing", "quality_head", "manager"):
        assert user_client(app, username).get("/audit/").status_code == 403


def _export(app, client_of, fmt, **filters):
    """Start an export on the explorer, follow it to its page and download it."""
    token = csrf_token(client_of, "/audit/")
    response = client_of.post("/audit/exports", data={"csrf_token": token, "format": fmt, **filters})
    assert response.status_code == 302, text(response)[:500]
    page = client_of.get(response.headers["Location"])
    assert page.status_code == 200
    export_id = int(response.headers["Location"].rstrip("/").rsplit("/", 1)[-1])
    download = client_of.get(f"/audit/exports/{export_id}/download")
    assert download.status_code == 200
    return export_id, download


def test_exports_match_the_database_and_carry_the_chain_head(app, client, database):
    case = _seeded(app, client, database)
    auditor = user_client(app, "auditor")
    with database.session() as s:
        head = audit_chain.current_head(s)
    expected = _db_rows(database)

    export_id, download = _export(app, auditor, "csv")
    assert download.headers["X-Audit-Chain-Head"].startswith("seq=")
    first, _sep, table = download.get_data(as_text=True).lstrip("\ufeff").partition("\r\n")
    with database.session() as s:
        export = s.get(AuditExport, export_id)
        assert export.finished_at is not None and export.written == export.total
    assert first.startswith(f"# audit trail chain head seq={export.head_seq} hash={export.head_hash}")
    assert audit_chain.parse_heads([first]) == [(export.head_seq, export.head_hash)]
    assert export.head_seq >= head[0]
    rows = list(csv.DictReader(io.StringIO(table)))
    in_db = _db_rows(database)[: export.head_seq]  # the export is taken at its head: nothing later
    assert len(rows) == export.total == len(in_db) >= len(expected)
    for row, event in zip(rows, in_db, strict=True):
        assert (int(row["seq"]), int(row["id"]), row["action"], row["hash"], row["prev_hash"]) == (
            event.seq, event.id, event.action, event.hash, event.prev_hash)
        assert (json.loads(row["data_after"]) if row["data_after"] else None) == event.data_after
        assert row["actor"] == event.actor_label and row["channel"] == (event.channel or "")
    started = next(r for r in rows if r["action"] == "process_started")
    assert started["case_number"] == case["number"] and started["process"].startswith("feedback_case v")
    test_row = next(r for r in rows if r["action"] == "test_event")
    assert test_row["changes"] == "n: 0 → 1; x: — → 测试" and test_row["actor_departments"] == "quality"

    # the export itself is in the trail: who exported what, at which head
    with database.session() as s:
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "audit_exported")).all()[-1]
    assert event.actor_label == "审计员" and event.data_after["chain_head"]["seq"] == export.head_seq
    assert event.data_after["format"] == "csv" and event.data_after["total"] == export.total

    _json_id, json_download = _export(app, auditor, "json", action="test_event")
    body = json_download.get_json()
    assert body["chain_head"]["hash"] == _db_rows(database)[body["chain_head"]["seq"] - 1].hash
    assert body["filters"] == {"action": "test_event"} and body["total"] == 60
    assert [e["id"] for e in body["events"]] == [e.id for e in _db_rows(database, action="test_event")]

    xlsx_id, xlsx_download = _export(app, auditor, "xlsx", case=case["number"])
    workbook = load_workbook(io.BytesIO(xlsx_download.get_data()), read_only=True)
    chain = dict(workbook["chain"].iter_rows(values_only=True))
    with database.session() as s:
        xlsx_export = s.get(AuditExport, xlsx_id)
    assert (int(chain["chain head seq"]), chain["chain head hash"]) == (xlsx_export.head_seq, xlsx_export.head_hash)
    sheet = list(workbook["events"].iter_rows(values_only=True))
    header, data = sheet[0], sheet[1:]
    case_events = [e for e in _db_rows(database, case_id=case["id"]) if e.seq <= xlsx_export.head_seq]
    assert [int(r[header.index("id")]) for r in data] == [e.id for e in case_events]

    progress = auditor.get(f"/audit/exports/{xlsx_id}/progress").get_json()
    assert progress == {"total": len(case_events), "written": len(case_events), "finished": True}


def test_the_api_exports_the_filtered_trail_for_auditors_only(app, client, database):
    case = _seeded(app, client, database)
    auditor = auth(client, "auditor")
    response = client.get(f"/api/v1/audit/events?format=json&case={case['number']}&action=process_started",
                          headers=auditor)
    assert response.status_code == 200
    body = response.get_json()
    assert [e["action"] for e in body["events"]] == ["process_started"]
    head = body["chain_head"]
    assert response.headers["X-Audit-Chain-Head"] == f"seq={head['seq']} hash={head['hash']}"
    progress = client.get(f"/api/v1/audit/exports/{response.headers['X-Audit-Export-Id']}", headers=auditor)
    assert progress.get_json()["finished"] and progress.get_json()["written"] == 1
    assert client.get("/api/v1/audit/events?from=2026-13-01", headers=auditor).status_code == 400
    assert client.get("/api/v1/audit/events?format=pdf", headers=auditor).status_code == 400
    for username in ("marketing", "quality", "manager"):
        assert client.get("/api/v1/audit/events", headers=auth(client, username)).status_code == 403
    marketing = auth(client, "marketing")
    exported_by_marketing = client.get(f"/api/v1/audit?case={case['id']}&format=xlsx", headers=marketing)
    assert exported_by_marketing.status_code == 200
    marketing_export = exported_by_marketing.headers["X-Audit-Export-Id"]
    production = auth(client, "production")
    assert client.get(f"/api/v1/audit/exports/{marketing_export}", headers=production).status_code == 404


def test_a_user_of_another_department_cannot_export_a_case_they_may_not_see(app, client, database):
    case = _seeded(app, client, database)
    production = auth(client, "production")
    for fmt in ("json", "csv", "xlsx"):
        assert client.get(f"/api/v1/audit?case={case['id']}&format={fmt}", headers=production).status_code == 403
    with database.session() as s:
        assert s.scalars(select(AuditExport)).all() == []
        assert not s.scalars(select(AuditEvent).where(AuditEvent.action == "audit_exported")).all()
    production_web = user_client(app, "production")
    token = csrf_token(production_web, "/inbox/")
    assert production_web.post("/audit/exports", data={"format": "csv", "csrf_token": token}).status_code == 403


def test_the_chain_page_verifies_against_published_heads(app, client, database):
    _seeded(app, client, database)
    admin = user_client(app, "admin")
    page = text(admin.get("/audit/chain"))
    with database.session() as s:
        seq, digest = audit_chain.current_head(s)
    assert f"seq={seq} hash={digest}" in page
    token = csrf_token(admin, "/audit/chain")
    ok = text(admin.post("/audit/chain", data={"csrf_token": token, "published": f"x seq={seq} hash={digest}"}))
    assert 'data-testid="chain-ok"' in ok
    broken = text(admin.post("/audit/chain", data={"csrf_token": token,
                                                   "published": f"seq={seq + 5} hash={digest}"}))
    assert 'data-kind="truncated"' in broken
