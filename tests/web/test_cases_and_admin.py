"""Case intake, the case page and list, the full fixture process via the web, administration."""

from __future__ import annotations

import io
import re

from sqlalchemy import select

from app.data.models import Case, HumanTask, User
from app.services import attachments
from tests.conftest import login
from tests.web.helpers import (
    VERIFY_OK,
    case_status,
    create_case,
    form_tokens,
    inbox_task_ids,
    open_task,
    submit_task,
    text,
    user_client,
)


def test_new_case_is_for_marketing_and_admins(app):
    assert user_client(app, "production").get("/cases/new").status_code == 403
    assert user_client(app, "quality").get("/cases/new").status_code == 403
    assert user_client(app, "admin").get("/cases/new").status_code == 200
    page = text(user_client(app, "marketing").get("/cases/new"))
    assert "客户名称" in page and 'data-testid="submit-case"' in page
    assert 'type="date"' in page and 'type="email"' in page and 'type="checkbox"' in page
    # a short multiselect is a row of checkboxes, each with its value and label
    assert 'name="demands" id="demands-0" value="onsite">' in page
    assert '<label class="form-check-label" for="demands-0">派人到现场</label>' in page


def test_invalid_intake_is_shown_again_with_errors(app, database):
    marketing = user_client(app, "marketing")
    token = form_tokens(marketing.get("/cases/new").get_data(as_text=True))["csrf_token"]
    response = marketing.post("/cases/new", data={"csrf_token": token, "customer_name": "", "description": "x",
                                                  "feedback_type": "complaint", "urgency": "general",
                                                  "customer_email": "not-an-address"})
    assert response.status_code == 422
    page = text(response)
    assert 'data-field="customer_name"' in page and 'data-field="customer_email"' in page
    with database.session() as s:
        assert s.scalars(select(Case)).all() == []


def test_full_process_to_closure_via_the_web(app, database):
    marketing = user_client(app, "marketing")
    case_id, _ = create_case(marketing)
    with database.session() as s:
        verify = open_task(s, case_id, "verify")
    assert submit_task(marketing, verify.id, {**VERIFY_OK, "measures-1-action": "派人到现场",
                                              "measures-1-owner": ""}).status_code == 302

    quality = user_client(app, "quality")
    with database.session() as s:
        analysis = open_task(s, case_id, "analysis")
    response = submit_task(quality, analysis.id, {"responsible_departments": ["production", "purchasing"]})
    assert response.status_code == 302

    production = user_client(app, "production")
    purchasing = user_client(app, "purchasing")
    with database.session() as s:
        eight_d_production = open_task(s, case_id, "eight_d", "production")
        eight_d_purchasing = open_task(s, case_id, "eight_d", "purchasing")
        assert eight_d_production.due_at is not None
    assert inbox_task_ids(production) == [eight_d_production.id]
    assert inbox_task_ids(purchasing) == [eight_d_purchasing.id]
    assert production.get(f"/tasks/{eight_d_purchasing.id}").status_code == 403
    # The case list shows the case to a department once it has a task there.
    assert re.search(r'data-testid="case-row" data-case-number="FB-', text(production.get("/cases/")))
    assert user_client(app, "warehouse").get(f"/cases/{case_id}").status_code == 403

    invalid = submit_task(production, eight_d_production.id, {"root_cause": "", "cost": "-5"})
    assert invalid.status_code == 422
    assert 'data-field="root_cause"' in text(invalid) and 'data-field="cost"' in text(invalid)
    assert submit_task(production, eight_d_production.id,
                       {"root_cause": "装配扭矩不足", "cost": "1234.5"}).status_code == 302
    with database.session() as s:
        assert s.scalars(select(HumanTask).where(HumanTask.case_id == case_id,
                                                 HumanTask.element_id == "close")).all() == []
    assert submit_task(purchasing, eight_d_purchasing.id, {"root_cause": "来料不良"}).status_code == 302

    with database.session() as s:
        close = open_task(s, case_id, "close")
    assert close.id in inbox_task_ids(marketing)
    assert submit_task(marketing, close.id, {"customer_reply": "已更换零件并改进装配工艺。"}).status_code == 302
    with database.session() as s:
        assert case_status(s, case_id) == "closed"
        assert s.scalars(select(HumanTask).where(HumanTask.case_id == case_id, HumanTask.state == "open")).all() == []

    page = text(marketing.get(f"/cases/{case_id}"))
    assert "已结案" in page
    actions = re.findall(r'data-testid="timeline-item" data-action="([a-z_]+)"', page)
    assert actions[0] == "process_started"
    assert actions.count("task_completed") == 5
    # Submitted data appears with the form's labels and choice labels.
    for expected in ("临时措施", "先行补货", "派人到现场", "责任部门", "生产车间、采购部", "根本原因", "装配扭矩不足",
                     "1,234.50", "来料不良", "答复内容", "生产车间专员", "信息完整"):
        assert expected in page, expected


def test_case_page_shows_essentials_open_tasks_and_status_link(app, database):
    marketing = user_client(app, "marketing")
    case_id, page = create_case(marketing)
    with database.session() as s:
        case = s.get(Case, case_id)
        task = open_task(s, case_id, "verify")
    assert case.number in page and "华东机械有限公司" in page and "XJ-200" in page
    assert f"/status/{case.public_token}" in page
    assert f'href="/tasks/{task.id}"' in page and "核实反馈" in page and "未分配" in page
    assert "补货、换货" in page  # intake multiselect shown with its labels
    timeline = re.findall(r'data-testid="timeline-item" data-action="([a-z_]+)"', page)
    assert timeline == ["process_started"]
    submit_task(marketing, task.id, VERIFY_OK)
    page = text(marketing.get(f"/cases/{case_id}"))
    assert re.findall(r'data-testid="timeline-item" data-action="([a-z_]+)"', page) == [
        "process_started", "task_completed"]
    assert "营销支持科专员" in page and "初步分析" in page


def test_case_list_filters_and_visibility(app):
    marketing = user_client(app, "marketing")
    create_case(marketing, customer_name="甲公司")
    create_case(marketing, customer_name="乙公司")
    page = text(marketing.get("/cases/"))
    assert page.count('data-testid="case-row"') == 2
    filtered = text(marketing.get("/cases/?q=乙公司"))
    assert filtered.count('data-testid="case-row"') == 1 and "乙公司" in filtered
    assert text(marketing.get("/cases/?status=closed")).count('data-testid="case-row"') == 0
    assert text(marketing.get("/cases/?status=open")).count('data-testid="case-row"') == 2
    # Production has no task in these cases yet; quality and managers see everything.
    assert 'data-testid="case-row"' not in text(user_client(app, "production").get("/cases/"))
    assert text(user_client(app, "quality").get("/cases/")).count('data-testid="case-row"') == 2
    assert text(user_client(app, "manager").get("/cases/")).count('data-testid="case-row"') == 2
    # No department and no overview role: no case list at all.
    assert user_client(app, "designer").get("/cases/").status_code == 403


def test_admin_creates_and_edits_a_user(app, database):
    admin = user_client(app, "admin")
    page = admin.get("/admin/users/new")
    assert page.status_code == 200
    with database.session() as s:
        from app.data.models import Department

        production = s.scalar(select(Department.id).where(Department.code == "production"))
    token = form_tokens(page.get_data(as_text=True))["csrf_token"]
    data = {"csrf_token": token, "username": "wang", "display_name": "王工", "email": "wang@example.com",
            "locale": "en", "active": "y", "password": "Secret-Pass-71", f"member_{production}": "y",
            f"head_{production}": "y", "roles": ["quality_engineer"]}
    response = admin.post("/admin/users/new", data=data)
    assert response.status_code == 302, text(response)[:3000]
    with database.session() as s:
        user = s.scalars(select(User).where(User.username == "wang")).one()
        assert user.locale == "en" and user.head_of_ids == {production} and user.role_names == {"quality_engineer"}
        user_id = user.id
    assert "王工" in text(admin.get("/admin/users"))

    # The same username again is refused on the form.
    again = admin.post("/admin/users/new", data=data)
    assert again.status_code == 422 and "该用户名已被使用" in text(again)

    # Edit without a password keeps the old one; the new user can sign in.
    edit = admin.get(f"/admin/users/{user_id}")
    assert 'id="role-quality_engineer" value="quality_engineer" checked>' in text(edit)
    assert 'id="role-admin" value="admin">' in text(edit)
    token = form_tokens(edit.get_data(as_text=True))["csrf_token"]
    response = admin.post(f"/admin/users/{user_id}", data={
        "csrf_token": token, "username": "wang", "display_name": "王工程师", "locale": "zh", "active": "y",
        f"member_{production}": "y"})
    assert response.status_code == 302
    with database.session() as s:
        user = s.get(User, user_id)
        assert user.display_name == "王工程师" and user.head_of_ids == set() and user.role_names == set()
    wang = app.test_client()
    login(wang, "wang", "Secret-Pass-71")
    assert "王工程师" in text(wang.get("/inbox/"))


def test_new_user_needs_a_password(app, database):
    admin = user_client(app, "admin")
    token = form_tokens(admin.get("/admin/users/new").get_data(as_text=True))["csrf_token"]
    response = admin.post("/admin/users/new", data={"csrf_token": token, "username": "li", "display_name": "李",
                                                    "locale": "zh", "active": "y"})
    assert response.status_code == 422 and 'data-field="password"' in text(response)
    with database.session() as s:
        assert s.scalars(select(User).where(User.username == "li")).first() is None


def test_admin_pages_are_for_admins_only(app):
    for username in ("marketing", "manager", "quality_head"):
        client = user_client(app, username)
        for path in ("/admin/users", "/admin/users/new", "/admin/departments", "/admin/incidents", "/admin/users/1"):
            assert client.get(path).status_code == 403, (username, path)
        token = form_tokens(client.get("/inbox/").get_data(as_text=True))["csrf_token"]
        assert client.post("/admin/users/new", data={"csrf_token": token, "username": "x", "display_name": "x",
                                                     "password": "xxxx", "locale": "zh"}).status_code == 403
    anonymous = app.test_client()
    assert anonymous.get("/admin/users").status_code == 302
    admin = user_client(app, "admin")
    assert "营销支持科" in text(admin.get("/admin/departments"))
    assert 'data-testid="no-incidents"' in text(admin.get("/admin/incidents"))


def test_incidents_page_lists_broken_instances(app, database):
    marketing = user_client(app, "marketing")
    case_id, _ = create_case(marketing)
    with database.session() as s:
        from app.data.models import ProcessInstance

        instance = s.scalars(select(ProcessInstance).where(ProcessInstance.case_id == case_id)).one()
        instance.status = "incident"
        instance.incident_message = "script failed: boom"
        s.commit()
    page = text(user_client(app, "admin").get("/admin/incidents"))
    assert 'data-testid="incident-row"' in page and "script failed: boom" in page


def test_english_default_and_switch(app):
    marketing = user_client(app, "marketing")
    chinese = text(marketing.get("/inbox/"))
    assert "我的任务" in chinese and "本部门待办" in chinese
    token = form_tokens(chinese)["csrf_token"]
    marketing.post("/language/en", data={"csrf_token": token})
    english = text(marketing.get("/inbox/"))
    assert "My tasks" in english and "我的任务" not in english
    new_case = text(marketing.get("/cases/new"))
    assert "Customer" in new_case and "Create case" in new_case
    assert "客户名称" not in new_case


def test_attachment_storage_is_content_addressed(tmp_path):
    class Upload:
        def __init__(self, data: bytes, name: str):
            self.stream = io.BytesIO(data)
            self.filename = name
            self.content_type = "image/png"

    first = attachments.store(tmp_path, Upload(b"photo-bytes", "../../etc/机器.png"))
    second = attachments.store(tmp_path, Upload(b"photo-bytes", "copy.png"))
    assert first["sha256"] == second["sha256"] == first["id"]
    assert first["name"] == "机器.png" and first["size"] == len(b"photo-bytes")
    assert attachments.path_for(tmp_path, first["sha256"]).read_bytes() == b"photo-bytes"
    assert [p.name for p in tmp_path.iterdir()] == [first["sha256"]]
    assert attachments.path_for(tmp_path, "../x") is None
    try:
        attachments.store(tmp_path, Upload(b"x" * 100, "big.bin"), max_bytes=10)
    except ValueError:
        pass
    else:
        raise AssertionError("a file over the limit must be refused")
    assert len(list(tmp_path.iterdir())) == 1


def test_case_page_shows_the_process_diagram_with_the_active_task_marked(app, client):
    import json

    from app.engine.context import Actor
    from app.services.cases import open_case

    database = app.extensions["database"]
    with database.transaction() as session:
        case = open_case(session, app.extensions["runtime"],
                         {"customer_name": "图示客户", "description": "坏了", "feedback_type": "complaint",
                          "urgency": "general"}, Actor(None, "test"))
        case_id = case.id
    login(client, "marketing")
    page = client.get(f"/cases/{case_id}").get_data(as_text=True)
    assert 'data-testid="case-diagram"' in page and 'data-active="verify"' in page
    config = json.loads(re.search(r'<script id="viewer-config" type="application/json">(.*?)</script>', page, re.S)
                        .group(1))
    assert config["markers"]["active"] == ["verify"]
    assert 'id="feedback_case"' in config["xml"]
    with database.transaction() as session:
        assert session.get(Case, case_id).stage == "核实反馈"
