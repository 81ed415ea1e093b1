"""The case's documents as PDF: a complaint driven through verification, Quality's analysis, one
department's 8D and the shipment; then its documents listed and exported, in Chinese and English,
with the photo embedded, every export audited, and refused to a user who may not see the case."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from pypdf import PdfReader
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from app.data.models import AuditEvent, Case
from app.services import attachments
from tests.process_http.payloads import EIGHT_D, analysis, intake, verify_ok


def _png(width: int = 24, height: int = 16) -> bytes:
    """A small valid PNG (a red block), made here so the test needs no image library."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def _text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def _images(pdf: bytes) -> int:
    return sum(len(page.images) for page in PdfReader(io.BytesIO(pdf)).pages)


@pytest.fixture
def complaint(flow, prod_app):
    """A complaint with a photo, verified with a replenishment request, analysed (Production
    responsible, shipment approved), Production's 8D written and accepted, the parts shipped."""
    case_id = flow.open_case(**intake())
    photo = attachments.store(prod_app.config["UPLOAD_DIR"], FileStorage(
        io.BytesIO(_png()), filename="故障照片.png", content_type="image/png"))
    with flow.database.transaction() as session:
        case = session.get(Case, case_id)
        case.data = {**case.data, "attachments": [photo]}
    flow.verify(case_id, verify_ok())
    flow.complete("quality", "preliminary", analysis(approve_shipment=True), case_id)
    flow.complete("production", "report", EIGHT_D, case_id, via="api")
    flow.complete("quality", "verify_8d", {"decision": "accept", "reason": "措施有效"}, case_id, via="api")
    flow.complete("warehouse", "shipment", {"items": [{"item": "控制板", "model": "CB-2", "qty": 2}],
                                            "carrier": "顺丰", "tracking_number": "SF123", "freight_cost": "35.50",
                                            "shipped_on": "2026-03-02"}, case_id, via="api")
    with flow.database.transaction() as session:
        return case_id, session.get(Case, case_id).number


def test_documents_listed_exported_and_audited(flow, complaint):
    case_id, number = complaint
    listed = flow.client("marketing").get(f"/api/v1/cases/{case_id}/documents", headers=flow.headers("marketing"))
    assert listed.status_code == 200, listed.get_json()
    documents = {d["key"]: d for d in listed.get_json()["documents"]}
    assert list(documents) == ["improvement", "request", "8d-production", "dossier"]
    assert documents["8d-production"]["urls"]["en"] == f"/api/v1/cases/{case_id}/documents/8d-production?lang=en"

    # the improvement form in Chinese over the API: the paper form's title, the temporary measure
    response = flow.client("marketing").get(documents["improvement"]["urls"]["zh"], headers=flow.headers("marketing"))
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    text = _text(response.data)
    assert "问题反馈分析改善表" in text and number in text
    assert "先补发2台控制板" in text and "温度曲线未点检" in text  # a temporary measure, Production's D4

    # Production's 8D report from the case page's link (Quality, page language Chinese)
    page = flow.client("quality").get(f"/cases/{case_id}").get_data(as_text=True)
    assert f"/cases/{case_id}/documents/8d-production.pdf?lang=zh" in page
    text = _text(flow.client("quality").get(f"/cases/{case_id}/documents/8d-production.pdf?lang=zh").data)
    assert "8D报告" in text and "生产车间" in text and number in text
    assert all(f"D{n}" in text for n in range(9)) and "温度曲线未点检" in text and "出厂测试未覆盖热态" in text

    # the request in English: English titles, and who signed
    text = _text(flow.client("quality").get(f"/cases/{case_id}/documents/request.pdf?lang=en").data)
    assert "Replenish / exchange / return request" in text and "Signatures" in text
    assert "Approved by (Quality)" in text and "SF123" in text

    # the dossier: the photo is embedded, the steps and the audit trail are there
    dossier = flow.client("marketing").get(f"/api/v1/cases/{case_id}/documents/dossier?lang=zh",
                                           headers=flow.headers("marketing"))
    assert dossier.status_code == 200
    text = _text(dossier.data)
    assert "案件档案" in text and "审计追踪" in text and "故障照片.png" in text
    assert _images(dossier.data) >= 1

    with flow.database.transaction() as session:
        exported = session.scalars(select(AuditEvent).where(AuditEvent.action == "document_exported",
                                                            AuditEvent.case_id == case_id)
                                   .order_by(AuditEvent.id)).all()
        assert [(e.actor_label, e.data_after["document"], e.data_after["language"]) for e in exported] == [
            ("营销支持科专员", "improvement", "zh"), ("质量部专员", "8d-production", "zh"),
            ("质量部专员", "request", "en"), ("营销支持科专员", "dossier", "zh")]
        assert all(len(e.data_after["sha256"]) == 64 for e in exported)


def test_refused_to_who_may_not_see_the_case_and_bad_input(flow, complaint):
    case_id, _number = complaint
    # Purchasing has no task in this case: neither the list nor a document, on the page or the API
    assert flow.client("purchasing").get(f"/cases/{case_id}/documents/dossier.pdf").status_code == 403
    headers = flow.headers("purchasing")
    client = flow.client("purchasing")
    assert client.get(f"/api/v1/cases/{case_id}/documents", headers=headers).status_code == 403
    assert client.get(f"/api/v1/cases/{case_id}/documents/dossier", headers=headers).status_code == 403
    # a document the case does not have, an unknown language, a case that does not exist
    headers = flow.headers("marketing")
    client = flow.client("marketing")
    assert client.get(f"/api/v1/cases/{case_id}/documents/8d-purchasing", headers=headers).status_code == 404
    bad = client.get(f"/api/v1/cases/{case_id}/documents/dossier?lang=fr", headers=headers)
    assert bad.status_code == 400 and "zh" in bad.get_json()["error"]["message"]
    assert client.get("/api/v1/cases/999999/documents", headers=headers).status_code == 404
    with flow.database.transaction() as session:
        assert session.scalars(select(AuditEvent).where(AuditEvent.action == "document_exported")).all() == []
