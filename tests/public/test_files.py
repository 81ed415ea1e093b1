"""Attachments on the case page (previews, downloads) and who may download them."""

from __future__ import annotations

import hashlib

from sqlalchemy import select

from app.data.models import Case
from tests.conftest import login
from tests.public.helpers import PDF, PNG, post_feedback, text, token_from_location

PNG_ID = hashlib.sha256(PNG).hexdigest()
PDF_ID = hashlib.sha256(PDF).hexdigest()


def _case_with_files(client, database) -> int:
    token = token_from_location(post_feedback(client, files=[("机器照片.png", PNG), ("检测报告.pdf", PDF)]))
    with database.transaction() as session:
        return session.scalars(select(Case.id).where(Case.public_token == token)).one()


def _staff(app, username: str):
    client = app.test_client()
    login(client, username)
    return client


def test_case_page_lists_attachments_with_previews_and_downloads(prod_app, client, database):
    case_id = _case_with_files(client, database)
    marketing = _staff(prod_app, "marketing")
    page = text(marketing.get(f"/cases/{case_id}"))
    assert f'<img src="/files/{PNG_ID}"' in page  # a thumbnail for the photo
    assert f'href="/files/{PDF_ID}?download=1"' in page and "检测报告.pdf" in page
    assert f'<img src="/files/{PDF_ID}"' not in page  # no image preview for a PDF

    image = marketing.get(f"/files/{PNG_ID}")
    assert image.status_code == 200 and image.data == PNG
    assert image.headers["Content-Type"] == "image/png"
    assert image.headers["X-Content-Type-Options"] == "nosniff"
    assert image.headers["Content-Disposition"].startswith("inline;")
    assert "filename*=UTF-8''%E6%9C%BA%E5%99%A8%E7%85%A7%E7%89%87.png" in image.headers["Content-Disposition"]

    download = marketing.get(f"/files/{PDF_ID}?download=1")
    assert download.status_code == 200 and download.data == PDF
    assert download.headers["Content-Type"] == "application/pdf"
    assert download.headers["Content-Disposition"].startswith("attachment;")

    assert _staff(prod_app, "quality").get(f"/files/{PNG_ID}").status_code == 200  # quality sees every case


def test_download_authorization(prod_app, client, database):
    _case_with_files(client, database)
    anonymous = prod_app.test_client()
    response = anonymous.get(f"/files/{PNG_ID}")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]

    production = _staff(prod_app, "production")  # no task of theirs in this case
    assert production.get(f"/files/{PNG_ID}").status_code == 403

    marketing = _staff(prod_app, "marketing")
    assert marketing.get(f"/files/{'0' * 64}").status_code == 404  # not held by any case
    assert marketing.get("/files/not-a-hash").status_code == 404
    assert marketing.get("/files/..%2F..%2Fconfig.py").status_code == 404
