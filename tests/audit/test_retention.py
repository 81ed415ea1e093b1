"""Retention: an admin setting for how long attachments and closed cases are kept; nothing is
removed until an admin applies it, every removal is audited, and the audit trail stays."""

from __future__ import annotations

import io
from datetime import timedelta

from sqlalchemy import select, update
from werkzeug.datastructures import FileStorage

from app.clock import clock
from app.data.models import AuditEvent, Case, HumanTask, InstanceStatus, ProcessInstance
from app.engine import audit_chain
from app.services import attachments
from tests.api.helpers import auth, create_case
from tests.conftest import csrf_token
from tests.web.helpers import text, user_client


def _closed_case_with_photo(app, client, database, shared: bool = False):
    case = create_case(client, auth(client, "marketing"))
    upload_dir = app.config["UPLOAD_DIR"]
    photo = attachments.store(upload_dir, FileStorage(io.BytesIO(b"\x89PNG old"), filename="旧照片.png",
                                                      content_type="image/png"))
    with database.transaction() as s:
        row = s.get(Case, case["id"])
        row.data = {**row.data, "photos": [photo]}
        row.status, row.closed_at = "closed", clock.now() - timedelta(days=100)
        s.execute(update(ProcessInstance).where(ProcessInstance.case_id == row.id)
                  .values(status=InstanceStatus.COMPLETED))
    return case, photo


def test_retention_is_an_audited_setting_and_removes_only_when_applied(app, client, database):
    case, photo = _closed_case_with_photo(app, client, database)
    open_case = create_case(client, auth(client, "marketing"))
    upload_dir = app.config["UPLOAD_DIR"]
    admin = user_client(app, "admin")
    assert 'data-testid="retention-nothing"' in text(admin.get("/admin/retention"))
    token = csrf_token(admin, "/admin/retention")
    bad = admin.post("/admin/retention", data={"csrf_token": token, "attachments_days": "5"})
    assert bad.status_code == 302 and attachments.path_for(upload_dir, photo["id"])
    admin.post("/admin/retention", data={"csrf_token": token, "attachments_days": "60", "closed_cases_days": "365"})
    with database.session() as s:
        changes = s.scalars(select(AuditEvent).where(AuditEvent.action == "setting_changed")).all()
        assert {e.element: e.data_after[e.element] for e in changes} == {
            "retention.attachments_days": 60, "retention.closed_cases_days": 365}

    page = text(admin.get("/admin/retention"))
    assert page.count('data-testid="retention-file"') == 1 and "旧照片.png" in page
    assert 'data-testid="retention-case"' not in page  # closed 100 days ago, kept 365
    assert attachments.path_for(upload_dir, photo["id"]) is not None  # reviewing removes nothing

    admin.post("/admin/retention/apply", data={"csrf_token": token})
    assert attachments.path_for(upload_dir, photo["id"]) is None
    with database.session() as s:
        assert s.get(Case, case["id"]) is not None
        [removed] = s.scalars(select(AuditEvent).where(AuditEvent.action == "retention_applied")).all()
        assert removed.case_id == case["id"] and removed.data_before["file"]["name"] == "旧照片.png"
        assert removed.actor_roles == ",admin,"

    clock.set(clock.now() + timedelta(days=300))
    try:
        assert 'data-testid="retention-case"' in text(admin.get("/admin/retention"))
        admin.post("/admin/retention/apply", data={"csrf_token": token})
    finally:
        clock.reset()
    with database.session() as s:
        assert s.get(Case, case["id"]) is None
        assert s.get(Case, open_case["id"]) is not None  # open cases are never due
        assert not s.scalars(select(ProcessInstance).where(ProcessInstance.case_id == case["id"])).all()
        assert not s.scalars(select(HumanTask).where(HumanTask.case_id == case["id"])).all()
        kept = s.scalars(select(AuditEvent).where(AuditEvent.case_id == case["id"])).all()
        actions = [e.action for e in kept]
        assert "process_started" in actions and actions.count("retention_applied") == 2  # the trail stays
        deleted = next(e for e in kept if e.action == "retention_applied" and "closed case" in e.message)
        assert deleted.data_before["number"] == case["number"]
    with database.engine.connect() as conn:
        assert audit_chain.verify(conn).ok


def test_a_file_still_used_by_a_case_not_due_is_kept(app, client, database):
    case, photo = _closed_case_with_photo(app, client, database)
    other = create_case(client, auth(client, "marketing"))
    with database.transaction() as s:
        row = s.get(Case, other["id"])
        row.data = {**row.data, "photos": [photo]}
    admin = user_client(app, "admin")
    token = csrf_token(admin, "/admin/retention")
    admin.post("/admin/retention", data={"csrf_token": token, "attachments_days": "30"})
    assert 'data-testid="retention-nothing"' in text(admin.get("/admin/retention"))
    admin.post("/admin/retention/apply", data={"csrf_token": token})
    assert attachments.path_for(app.config["UPLOAD_DIR"], photo["id"]) is not None
