"""Issue 13 items 6, 7 and 12 in a real Chromium: an .exe refused on every upload form with what was
typed kept, a 26 MB photo answered by the form with a message, a draft of the 8D report saved and
restored (with its section navigation and the warning before leaving), and a comment's @mention
counted in the mentioned user's bell."""

from __future__ import annotations

import pytest

from tests.browser.test_complaint_flow import User
from tests.process_http.conftest import flow, prod_app  # noqa: F401 - fixtures: the process driven over HTTP
from tests.process_http.payloads import analysis, intake, verify_ok

pytestmark = pytest.mark.browser

EXE = {"name": "tool.exe", "mimeType": "application/octet-stream", "buffer": b"MZ\x90\x00" + b"\x00" * 500}
FAKE_PNG = {"name": "photo.png", "mimeType": "image/png", "buffer": b"this is text, not a picture"}


def _unread(page) -> int:
    badge = page.locator("[data-testid=unread-count]")
    return int(badge.inner_text()) if badge.count() else 0


def test_an_exe_is_refused_on_every_upload_form_with_the_typed_data_kept(flow, live_server, browser):  # noqa: F811
    marketing = User(browser, live_server, "marketing")
    page = marketing.page
    page.goto(f"{live_server}/cases/new")
    assert "可接受：JPG" in page.inner_text("[data-testid=field-attachments]")
    page.fill("#customer_name", "恒通电气")
    page.fill("#description", "外壳开裂")
    page.set_input_files("#attachments", [EXE, FAKE_PNG])
    page.click("[data-testid=submit-case]")
    page.wait_for_selector("[data-testid=form-invalid]")
    errors = page.inner_text("[data-testid=field-attachments]")
    assert "“tool.exe”不是可接受的文件" in errors and "“photo.png”不是可接受的文件" in errors
    assert page.input_value("#customer_name") == "恒通电气" and page.input_value("#description") == "外壳开裂"

    case_id = flow.open_case(**intake())
    flow.verify(case_id, verify_ok(onsite_needed=True))
    task = flow.find("marketing", "onsite", case_id)
    page.goto(f"{live_server}/tasks/{task['id']}")
    page.fill("#engineer", "赵工")
    page.set_input_files("#evidence", [EXE])
    page.click("[data-testid=submit-task]")
    page.wait_for_selector("[data-testid=form-invalid]")
    assert "“tool.exe”不是可接受的文件" in page.inner_text("[data-testid=field-evidence]")
    assert page.input_value("#engineer") == "赵工"

    customer = browser.new_context(locale="zh-CN").new_page()
    customer.goto(f"{live_server}/feedback")
    customer.fill("#customer_name", "个人客户")
    customer.set_input_files("#attachments", [EXE])
    customer.click("[data-testid=submit-feedback]")
    customer.wait_for_selector("[data-testid=form-invalid]")
    assert "“tool.exe”不是可接受的文件" in customer.inner_text("[data-testid=field-attachments]")
    assert customer.input_value("#customer_name") == "个人客户"


def test_a_26_mb_photo_comes_back_as_the_form_with_a_message(flow, live_server, browser, tmp_path):  # noqa: F811
    page = User(browser, live_server, "marketing").page
    page.set_default_timeout(60_000)  # 26 MB through the browser on a busy machine
    page.goto(f"{live_server}/cases/new")
    page.fill("#customer_name", "大文件客户")
    page.fill("#description", "照片很大")
    big, small = tmp_path / "big.png", tmp_path / "small.png"
    big.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * (26 * 1024 * 1024))
    small.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    page.set_input_files("#attachments", [str(big), str(small)])
    assert "big.png" in page.inner_text("[data-upload-note]")  # said at once when chosen
    page.click("[data-testid=submit-case]")
    page.wait_for_selector("[data-testid=form-invalid]")
    assert "“big.png”超过了每个文件 10 MB 的上限" in page.inner_text("[data-testid=field-attachments]")
    assert page.input_value("#customer_name") == "大文件客户"
    assert "已上传：small.png" in page.inner_text("[data-testid=received-files]")  # the acceptable one was kept


def test_a_draft_of_the_8d_is_saved_and_restored(flow, live_server, browser):  # noqa: F811
    case_id = flow.open_case(**intake())
    flow.verify(case_id, verify_ok())
    flow.complete("quality", "preliminary", analysis(), case_id)
    task = flow.find("production", "report", case_id)
    page = User(browser, live_server, "production").page
    page.goto(f"{live_server}/tasks/{task['id']}")
    nav = page.locator("[data-testid=section-nav] a")
    assert nav.count() == 10 and nav.nth(4).inner_text().startswith("D4")
    nav.nth(4).click()
    assert page.url.endswith("#section-d4")
    page.locator("#d2_what").press_sequentially("外壳裂纹")
    page.fill("#d4_occurrence_cause", "模具磨损")
    page.click("[data-testid=save-draft]")
    page.wait_for_selector("[data-testid=draft-restored]")
    page.locator("#d2_how").press_sequentially("未保存的内容")
    dialogs = []
    page.once("dialog", lambda dialog: (dialogs.append(dialog.type), dialog.accept()))
    page.goto(f"{live_server}/inbox/")  # leaving with unsaved changes asks first
    assert dialogs == ["beforeunload"]
    page.goto(f"{live_server}/tasks/{task['id']}")
    assert page.locator("[data-testid=draft-restored]").is_visible()
    assert page.input_value("#d2_what") == "外壳裂纹" and page.input_value("#d4_occurrence_cause") == "模具磨损"
    assert page.input_value("#d2_how") == ""  # typed after the draft was saved: not kept


def test_a_comment_with_a_mention_rings_the_mentioned_users_bell(flow, live_server, browser):  # noqa: F811
    case_id = flow.open_case(**intake())
    quality = User(browser, live_server, "quality").page
    quality.goto(f"{live_server}/inbox/")
    before = _unread(quality)
    page = User(browser, live_server, "marketing").page
    page.goto(f"{live_server}/cases/{case_id}")
    page.fill("[data-testid=comment-input]", "@quality 请确认这批货的批次号")
    page.click("[data-testid=comment-submit]")
    page.wait_for_selector("[data-testid=comment-body]")
    assert "请确认这批货的批次号" in page.inner_text("[data-testid=timeline]")
    assert "内部" in page.inner_text("[data-testid=timeline]")
    quality.goto(f"{live_server}/inbox/")
    assert _unread(quality) == before + 1
    quality.click("[data-testid=notification-bell]")
    item = quality.locator("[data-testid=recent-notification]", has_text="请确认这批货")
    item.first.click()
    quality.wait_for_url(f"**/cases/{case_id}")
    assert _unread(quality) == before
