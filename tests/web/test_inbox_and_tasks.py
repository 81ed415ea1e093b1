"""Inbox, claiming, and completing tasks through the HTML pages."""

from __future__ import annotations

import re
from datetime import timedelta

from app.clock import clock
from tests.web.helpers import (
    VERIFY_OK,
    audit_count,
    create_case,
    inbox_task_ids,
    load_task_form,
    open_task,
    submit_task,
    text,
    user_client,
)


def test_inbox_needs_sign_in(client):
    response = client.get("/inbox/")
    assert response.status_code == 302
    assert "/auth/login" in response.headers["Location"]


def test_marketing_case_shows_up_in_the_department_queue(app, database):
    marketing = user_client(app, "marketing")
    case_id, page = create_case(marketing)
    number = re.search(r"FB-\d{4}-\d{5}", page).group(0)
    assert f"案件 {number} 已创建" in page  # the flash message, in Chinese by default
    with database.session() as s:
        task = open_task(s, case_id, "verify")
    inbox = text(marketing.get("/inbox/?tab=department"))
    assert f'data-task-id="{task.id}"' in inbox
    assert number in inbox and "核实反馈" in inbox and "华东机械有限公司" in inbox and "XJ-200" in inbox
    assert "营销支持科" in inbox  # department name
    assert "紧急" in inbox  # urgency badge
    assert re.search(r'data-testid="count-department">1<', inbox)
    assert re.search(r'data-testid="count-mine">0<', inbox)
    assert inbox_task_ids(marketing, "mine") == []


def test_other_department_cannot_see_or_open_the_task(app, database):
    marketing = user_client(app, "marketing")
    case_id, _ = create_case(marketing)
    with database.session() as s:
        task = open_task(s, case_id, "verify")
    production = user_client(app, "production")
    assert task.id not in inbox_task_ids(production, "department")
    assert task.id not in inbox_task_ids(production, "mine")
    assert production.get(f"/tasks/{task.id}").status_code == 403
    token = load_task_form(marketing, task.id)["csrf_token"]
    assert production.post(f"/tasks/{task.id}", data={**VERIFY_OK, "csrf_token": token}).status_code in (400, 403)
    assert production.get(f"/cases/{case_id}").status_code == 403
    assert production.get("/tasks/does-not-exist").status_code == 404


def _claim_token(client) -> str:
    page = client.get("/inbox/?tab=department").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_claim_and_release(app, database):
    marketing = user_client(app, "marketing")
    case_id, _ = create_case(marketing)
    with database.session() as s:
        task = open_task(s, case_id, "verify")
    page = text(marketing.get("/inbox/?tab=department"))
    assert 'data-testid="claim-button"' in page
    response = marketing.post(f"/inbox/{task.id}/claim", data={"csrf_token": _claim_token(marketing)},
                              follow_redirects=True)
    assert response.status_code == 200
    assert "您已认领任务" in text(response)
    assert inbox_task_ids(marketing, "mine") == [task.id]
    with database.session() as s:
        assert open_task(s, case_id, "verify").assignee_id is not None
    mine = text(marketing.get("/inbox/?tab=mine"))
    assert "营销支持科专员" in mine and 'data-testid="release-button"' in mine

    response = marketing.post(f"/inbox/{task.id}/release", data={"csrf_token": _claim_token(marketing)},
                              follow_redirects=True)
    assert response.status_code == 200
    assert inbox_task_ids(marketing, "mine") == []
    with database.session() as s:
        assert open_task(s, case_id, "verify").assignee_id is None


def test_claim_without_csrf_is_refused(app, database):
    marketing = user_client(app, "marketing")
    case_id, _ = create_case(marketing)
    with database.session() as s:
        task = open_task(s, case_id, "verify")
    assert marketing.post(f"/inbox/{task.id}/claim").status_code == 400
    with database.session() as s:
        assert open_task(s, case_id, "verify").assignee_id is None


def test_claim_race_one_wins_the_other_is_told(app, database):
    first = user_client(app, "marketing")
    second = user_client(app, "marketing_head")
    case_id, _ = create_case(first)
    with database.session() as s:
        task = open_task(s, case_id, "verify")
    # Both see the unclaimed task and its claim button.
    token_first, token_second = _claim_token(first), _claim_token(second)
    assert first.post(f"/inbox/{task.id}/claim", data={"csrf_token": token_first}).status_code == 302
    response = second.post(f"/inbox/{task.id}/claim", data={"csrf_token": token_second}, follow_redirects=True)
    assert response.status_code == 200
    assert "已有其他人认领了此任务" in text(response)
    with database.session() as s:
        from app.data.models import User

        winner = s.get(User, open_task(s, case_id, "verify").assignee_id)
        assert winner.username == "marketing"
    assert inbox_task_ids(second, "mine") == []


def test_claim_race_message_in_english(app, database):
    first = user_client(app, "marketing")
    second = user_client(app, "marketing_head")
    second.post("/language/en", data={"csrf_token": _claim_token(second)})
    case_id, _ = create_case(first)
    with database.session() as s:
        task = open_task(s, case_id, "verify")
    token_second = _claim_token(second)
    first.post(f"/inbox/{task.id}/claim", data={"csrf_token": _claim_token(first)})
    response = second.post(f"/inbox/{task.id}/claim", data={"csrf_token": token_second}, follow_redirects=True)
    assert "Someone else has already claimed this task." in text(response)


def test_invalid_submit_returns_422_and_changes_nothing(app, database):
    marketing = user_client(app, "marketing")
    case_id, _ = create_case(marketing)
    with database.session() as s:
        task = open_task(s, case_id, "verify")
        events_before = audit_count(s, case_id)
    data = {k: v for k, v in VERIFY_OK.items() if k != "info_complete"}
    data["measures-0-action"] = ""
    response = submit_task(marketing, task.id, data)
    assert response.status_code == 422
    page = text(response)
    assert 'data-testid="field-error" data-field="info_complete"' in page
    assert 'data-field="measures-0-action"' in page
    assert "此项为必填项。" in page
    assert "信息齐全" in page  # what the user typed is kept
    with database.session() as s:
        assert open_task(s, case_id, "verify").state == "open"
        assert audit_count(s, case_id) == events_before


def test_valid_submit_moves_the_case_to_quality(app, database):
    marketing = user_client(app, "marketing")
    case_id, _ = create_case(marketing)
    with database.session() as s:
        task = open_task(s, case_id, "verify")
    response = submit_task(marketing, task.id, VERIFY_OK)
    assert response.status_code == 302 and response.headers["Location"].endswith("/inbox/")
    assert "已完成" in text(marketing.get("/inbox/"))
    quality = user_client(app, "quality")
    with database.session() as s:
        analysis = open_task(s, case_id, "analysis")
    queue = text(quality.get("/inbox/?tab=department"))
    assert f'data-task-id="{analysis.id}"' in queue and "初步分析" in queue
    assert inbox_task_ids(marketing, "department") == []


def test_double_submit_with_the_same_token_completes_once(app, database):
    marketing = user_client(app, "marketing")
    case_id, _ = create_case(marketing)
    with database.session() as s:
        task = open_task(s, case_id, "verify")
    tokens = load_task_form(marketing, task.id)
    first = submit_task(marketing, task.id, VERIFY_OK, tokens)
    second = submit_task(marketing, task.id, VERIFY_OK, tokens)
    assert first.status_code == 302 and second.status_code == 302
    page = text(marketing.get("/inbox/"))
    assert "已完成" in page and "已被其他人完成" not in page
    with database.session() as s:
        assert audit_count(s, case_id, "task_completed") == 1
        open_task(s, case_id, "analysis")  # exactly one analysis task


def test_stale_submit_after_someone_else_completed(app, database):
    first = user_client(app, "marketing")
    second = user_client(app, "marketing_head")
    case_id, _ = create_case(first)
    with database.session() as s:
        task = open_task(s, case_id, "verify")
    tokens_first = load_task_form(first, task.id)
    tokens_second = load_task_form(second, task.id)
    assert submit_task(second, task.id, VERIFY_OK, tokens_second).status_code == 302
    response = submit_task(first, task.id, {**VERIFY_OK, "verify_note": "迟到的提交"}, tokens_first)
    assert response.status_code == 302
    page = text(first.get(response.headers["Location"]))
    assert "此任务已被其他人完成" in page
    with database.session() as s:
        assert audit_count(s, case_id, "task_completed") == 1
    # The completed task now shows read-only with what was submitted.
    done = text(first.get(f"/tasks/{task.id}"))
    assert 'data-testid="task-closed"' in done and "信息齐全" in done and "迟到的提交" not in done


def test_viewer_without_right_to_act_gets_read_only_page(app, database):
    marketing = user_client(app, "marketing")
    case_id, _ = create_case(marketing)
    with database.session() as s:
        task = open_task(s, case_id, "verify")
    auditor = user_client(app, "auditor")
    page = auditor.get(f"/tasks/{task.id}")
    assert page.status_code == 200
    body = text(page)
    assert 'data-testid="read-only-notice"' in body and 'data-testid="submit-task"' not in body
    tokens = {k: v for k, v in load_task_form(auditor, task.id).items()}
    assert submit_task(auditor, task.id, VERIFY_OK, tokens).status_code == 403
    with database.session() as s:
        assert open_task(s, case_id, "verify").state == "open"


def test_task_form_renders_field_types_and_prefills(app, database):
    marketing = user_client(app, "marketing")
    case_id, _ = create_case(marketing)
    with database.session() as s:
        task = open_task(s, case_id, "verify")
    page = text(marketing.get(f"/tasks/{task.id}"))
    assert 'type="radio"' in page and 'name="info_complete"' in page
    assert '<textarea' in page and 'name="measures-0-action"' in page
    assert 'data-min-rows="1" data-max-rows="3"' in page and 'data-testid="add-row"' in page
    assert '<select' in page and 'name="measures-0-owner"' in page
    assert "js/app.js" in page and 'enctype="multipart/form-data"' in page
    # Case essentials beside the form.
    assert "华东机械有限公司" in page and "设备运行时异响。" in page


def test_english_ui_shows_english_labels(app, database):
    marketing = user_client(app, "marketing")
    case_id, _ = create_case(marketing)
    with database.session() as s:
        task = open_task(s, case_id, "verify")
    chinese = text(marketing.get(f"/tasks/{task.id}"))
    assert "信息完整" in chinese and "临时措施" in chinese and "提交" in chinese
    marketing.post("/language/en", data={"csrf_token": _claim_token(marketing)})
    english = text(marketing.get(f"/tasks/{task.id}"))
    assert "Information complete" in english and "Temporary measures" in english and "Verify feedback" in english
    assert "信息完整" not in english
    inbox = text(marketing.get("/inbox/?tab=department"))
    assert "My departments' queue" in inbox and "Inbox" in inbox
    assert "Verify feedback" in inbox and "Marketing Support" in inbox and "Urgent" in inbox


def test_overdue_tasks_are_marked(app, database):
    marketing = user_client(app, "marketing")
    case_id, _ = create_case(marketing)
    with database.session() as s:
        task = open_task(s, case_id, "verify")
    submit_task(marketing, task.id, VERIFY_OK)
    quality = user_client(app, "quality")
    with database.session() as s:
        analysis = open_task(s, case_id, "analysis")
    submit_task(quality, analysis.id, {"responsible_departments": ["production"]})
    production = user_client(app, "production")
    page = text(production.get("/inbox/?tab=department"))
    assert 'data-testid="inbox-row"' in page and "data-overdue" not in page
    clock.set(clock.now() + timedelta(hours=49))
    page = text(production.get("/inbox/?tab=department"))
    assert 'data-overdue="true"' in page and 'data-testid="overdue-badge"' in page
