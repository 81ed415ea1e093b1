"""Issue 13 item 7 over HTTP: one rule set for every upload (type by content, the field's types,
its size), the form back with what was typed and the files already received after any error,
and a request too large to receive answered with the form rather than a bare 413."""

from __future__ import annotations

import io
import re

from sqlalchemy import func, select

from app.data.models import Case, PendingUpload
from tests.process_http.conftest import flow, form_fields, page_tokens, prod_app  # noqa: F401 - fixtures
from tests.process_http.payloads import intake, verify_ok
from tests.web.helpers import text


def csrf(page: str) -> str:
    """The page's CSRF token (from whichever form carries it first)."""
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', page)
    assert match, "no CSRF token"
    return match.group(1)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
EXE = b"MZ\x90\x00\x03" + b"\x00" * 200


def _intake_post(client, files=(), token: str | None = None, **overrides):
    page = client.get("/cases/new").get_data(as_text=True)
    fields = form_fields(intake(**overrides))
    fields.add("csrf_token", csrf(page))
    fields.add("upload_token", token or re.search(r'name="upload_token" value="([^"]+)"', page).group(1))
    for name, content in files:
        fields.add("attachments", (io.BytesIO(content), name))
    return client.post("/cases/new", data=fields, content_type="multipart/form-data")


def _cases(flow) -> int:  # noqa: F811
    with flow.database.transaction() as session:
        return session.scalar(select(func.count()).select_from(Case))


def test_an_exe_or_a_text_named_png_is_refused_on_the_staff_intake_with_the_typed_data_kept(flow):  # noqa: F811
    client = flow.client("marketing")
    before = _cases(flow)
    response = _intake_post(client, [("tool.exe", EXE), ("photo.png", b"just text, not a picture")],
                            customer_name="恒通电气")
    page = text(response)
    assert response.status_code == 422
    assert "“tool.exe”不是可接受的文件" in page and "“photo.png”不是可接受的文件" in page
    assert 'value="恒通电气"' in page
    assert "可接受：JPG, PNG" in page and "每个文件不超过 10 MB" in page  # the rules stated next to the field
    assert _cases(flow) == before


def test_a_task_form_refuses_an_exe_and_a_field_may_narrow_the_types(flow):  # noqa: F811
    case_id = flow.open_case(**intake())
    flow.verify(case_id, verify_ok(onsite_needed=True))
    task = flow.find("marketing", "onsite", case_id)
    client = flow.client("marketing")
    page = client.get(f"/tasks/{task['id']}").get_data(as_text=True)
    fields = form_fields({"visit_date": "2026-02-01", "engineer": "赵工", "findings": "现场确认"})
    for name, value in page_tokens(page).items():
        fields.add(name, value)
    fields.add("evidence", (io.BytesIO(EXE), "tool.exe"))
    response = client.post(f"/tasks/{task['id']}", data=fields, content_type="multipart/form-data")
    assert response.status_code == 422
    assert "“tool.exe”不是可接受的文件" in text(response) and "赵工" in text(response)


def test_a_too_large_file_is_a_field_error_and_a_too_large_request_comes_back_as_the_form(flow):  # noqa: F811
    client = flow.client("marketing")
    flow.app.config["UPLOAD_MAX_FILE_BYTES"] = 100
    response = _intake_post(client, [("big.png", PNG)], customer_name="大文件客户")
    assert response.status_code == 422
    assert "“big.png”超过了每个文件 9.54e-05 MB 的上限" in text(response)
    assert 'value="大文件客户"' in text(response)

    flow.app.config["UPLOAD_MAX_FILE_BYTES"] = 10 * 1024 * 1024
    flow.app.config["MAX_CONTENT_LENGTH"] = 4096
    before = _cases(flow)
    response = _intake_post(client, [("huge.png", PNG + b"\x00" * 8000)], customer_name="超大请求客户")
    page = text(response)
    assert response.status_code == 422, page[:500]
    assert "未能接收" in page and 'value="超大请求客户"' in page and "设备运行10分钟后报警停机" in page
    assert _cases(flow) == before
    # far beyond the limit the request is not read at all: the plain 413
    response = _intake_post(client, [("huge.png", PNG + b"\x00" * 40000)])
    assert response.status_code == 413


def test_a_validation_error_keeps_the_photo_and_the_second_try_uses_it(flow):  # noqa: F811
    client = flow.client("marketing")
    response = _intake_post(client, [("photo.png", PNG)], customer_email="not-an-address")
    page = text(response)
    assert response.status_code == 422
    assert "已上传：photo.png" in page
    token = re.search(r'name="upload_token" value="([^"]+)"', page).group(1)
    # another user cannot use the token
    other = flow.client("marketing_head")
    assert _intake_post(other, [], token=token, customer_email="a@b.cn").status_code == 302
    with flow.database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(PendingUpload)) == 1
    response = _intake_post(client, [], token=token, customer_email="wang@example.com")
    assert response.status_code == 302, text(response)[:2000]
    case_id = int(response.headers["Location"].rsplit("/", 1)[-1])
    with flow.database.transaction() as session:
        case = session.get(Case, case_id)
        assert [f["name"] for f in case.data["attachments"]] == ["photo.png"]
        assert case.data["attachments"][0]["content_type"] == "image/png"
        assert session.scalar(select(func.count()).select_from(PendingUpload)) == 0


def test_a_received_file_can_be_removed(flow):  # noqa: F811
    client = flow.client("marketing")
    page = text(_intake_post(client, [("photo.png", PNG)], customer_email="bad"))
    token = re.search(r'name="upload_token" value="([^"]+)"', page).group(1)
    row_id = re.search(r'name="upload_remove" value="(\d+)"', page).group(1)
    token_csrf = csrf(client.get("/cases/new").get_data(as_text=True))
    fields = form_fields(intake())
    fields.add("csrf_token", token_csrf)
    fields.add("upload_token", token)
    fields.add("upload_remove", row_id)
    response = client.post("/cases/new", data=fields, content_type="multipart/form-data")
    assert response.status_code == 302
    case_id = int(response.headers["Location"].rsplit("/", 1)[-1])
    with flow.database.transaction() as session:
        assert session.get(Case, case_id).data["attachments"] == []


def test_the_public_form_uses_the_same_rules_and_keeps_the_photo(flow):  # noqa: F811
    client = flow.app.test_client()
    page = client.get("/feedback").get_data(as_text=True)
    token = re.search(r'name="upload_token" value="([^"]+)"', page).group(1)
    data = {"csrf_token": csrf(page), "upload_token": token, "customer_name": "个人客户",
            "customer_email": "bad", "description": "坏了", "product_model": "XK-200",
            "feedback_type": "complaint", "category": "quality",
            "attachments": [(io.BytesIO(EXE), "tool.exe"), (io.BytesIO(PNG), "photo.png")]}
    response = client.post("/feedback", data=data, content_type="multipart/form-data")
    page = text(response)
    assert response.status_code == 422
    assert "“tool.exe”不是可接受的文件" in page and "已上传：photo.png" in page and "tool.exe" not in page.split(
        "已上传")[1][:200]
    assert 'value="个人客户"' in page
