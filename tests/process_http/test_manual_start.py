"""Issue 10.4: starting a process by hand is a controlled act. A process may be started by hand
only when its start event says so and by whom (``manualStart``), with data its start form
validates (``startForm``); the week's assessment is started by the head of Quality or an admin,
from /assessments or POST /api/v1/assessments, with its rows always computed by the server."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.clock import clock
from app.data.models import HumanTask, ProcessInstance, User
from tests.conftest import csrf_token
from tests.process_http.payloads import analysis, intake, verify_ok

SH = timedelta(hours=8)
FORGED = [{"case_no": "FB-2026-00001", "department": "production", "late_measure_days": 300,
           "late_execution_days": 0}]  # 300 days × 10 yuan: the 3,000-yuan penalty of the issue


def shanghai(day: int, hour: int = 9) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC) - SH


def assessments(flow) -> list[ProcessInstance]:
    with flow.database.transaction() as session:
        return list(session.scalars(select(ProcessInstance).where(ProcessInstance.process_key == "weekly_assessment")
                                    .order_by(ProcessInstance.id)))


def late_8d(flow) -> tuple[int, str]:
    """A case whose 8D (due Wednesday 4 March 09:00) is still open: late from then on."""
    case_id = flow.open_case(**intake())
    flow.complete("marketing", "verify", verify_ok(), case_id)
    flow.complete("quality", "preliminary", analysis(), case_id)
    return case_id, flow.case("marketing", case_id)["number"]


def post_api(flow, username: str, path: str, body: dict):
    return flow.client(username).post(path, json=body, headers=flow.headers(username))


def test_a_designer_cannot_start_the_weekly_assessment_with_rows(flow):
    body = {"data": {"week_start": "2026-02-23", "week_end": "2026-03-01", "rows": FORGED}}
    for username in ("designer", "quality", "manager", "finance_head"):
        response = post_api(flow, username, "/api/v1/process-definitions/weekly_assessment/start", body)
        assert response.status_code == 403, username
        assert response.get_json()["error"]["message"] == "只有流程图指定的人员可以手动启动此流程。"
    # the head of Quality may start it, but only with the week: the start form refuses the rest
    response = post_api(flow, "quality_head", "/api/v1/process-definitions/weekly_assessment/start", body)
    assert response.status_code == 422
    fields = response.get_json()["error"]["fields"]
    assert set(fields) == {"rows", "week_start", "week_end", "week"}
    assert fields["rows"] == ["未知字段。"] and fields["week"] == ["此项为必填项。"]
    response = post_api(flow, "admin", "/api/v1/assessments", {"week": "2026-W09", "rows": FORGED})
    assert response.status_code == 422 and set(response.get_json()["error"]["fields"]) == {"rows"}
    assert assessments(flow) == []
    with flow.database.transaction() as session:
        assert session.scalar(select(HumanTask.id).where(HumanTask.element_id == "review")) is None
    assert 'data-testid="assessment-row"' not in flow.client("quality").get("/assessments/").get_data(as_text=True)


def test_processes_the_application_starts_cannot_be_started_by_hand(flow):
    for key in ("feedback_case", "eight_d", "stock_count"):
        for username in ("designer", "admin", "marketing", "quality_head"):
            response = post_api(flow, username, f"/api/v1/process-definitions/{key}/start", {"data": {}})
            assert response.status_code == 403, (key, username)
            assert response.get_json()["error"]["message"] == "此流程由系统启动，不能手动启动。"
    response = post_api(flow, "admin", "/api/v1/process-definitions/corrective_action/start", {"data": {}})
    assert response.status_code == 403
    assert response.get_json()["error"]["message"] == "此流程由其他流程的消息启动，不能手动启动。"
    assert post_api(flow, "admin", "/api/v1/process-definitions/nope/start", {}).status_code == 404
    with flow.database.transaction() as session:
        assert session.scalar(select(ProcessInstance.id)) is None


def test_the_head_of_quality_starts_a_missed_week_once_through_the_api(flow):
    case_id, number = late_8d(flow)
    flow.advance(shanghai(16, 10) - clock.now(), flow.instance_id(case_id))  # two weeks on; no scheduler ran
    response = post_api(flow, "quality_head", "/api/v1/assessments", {"week": "2026-W10"})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["week"], body["created"], body["status"]) == ("2026-W10", True, "running")
    assert response.headers["Location"] == body["url"] == f"/assessments/{body['instance_id']}"
    data = flow.data(body["instance_id"])
    # the rows the server computed: the 24-hour days of the 8D begun Wednesday 4 to Sunday 8 March
    assert (data["week_start"], data["week_end"]) == ("2026-03-02", "2026-03-08")
    assert data["rows"] == [{"case_no": number, "department": "production", "late_measure_days": 5,
                             "late_execution_days": 0}]
    assert [c["days"] for c in data["lateness"]] == [[f"2026-03-0{d}" for d in range(4, 9)]]
    review = flow.find("quality", "review", None)
    assert flow.task_data(review["id"])["rows"] == data["rows"]
    with flow.database.transaction() as session:
        started = session.get(ProcessInstance, body["instance_id"])
        assert started.business_key == "assessment:2026-W10" and started.started_by_id is not None

    # again, by hand or by the scheduler: the same instance, nothing new
    again = post_api(flow, "admin", "/api/v1/assessments", {"week": "2026-w10"})
    assert again.status_code == 200
    assert (again.get_json()["instance_id"], again.get_json()["created"]) == (body["instance_id"], False)
    generic = post_api(flow, "quality_head", "/api/v1/process-definitions/weekly_assessment/start",
                       {"data": {"week": "2026-W10"}})
    assert generic.status_code == 200 and generic.get_json()["instance_id"] == body["instance_id"]
    assert len(assessments(flow)) == 1
    # the next week through the generic start: its own rows, the days begun in it
    generic = post_api(flow, "quality_head", "/api/v1/process-definitions/weekly_assessment/start",
                       {"week": "2026-W11"})
    assert generic.status_code == 201 and generic.get_json()["created"] is True
    assert flow.data(generic.get_json()["instance_id"])["rows"][0]["late_measure_days"] == 7


def test_only_a_week_that_has_ended_and_exists_can_be_started(flow):
    clock.set(shanghai(11))  # Wednesday of 2026-W11
    for week, message in (("2026-W11", "只能考核已结束的周。"), ("2026-W12", "只能考核已结束的周。"),
                          ("2026/10", "请按 ISO 周填写考核周，例如 2026-W48。"),
                          ("2025-W53", "该年没有这一周。"), ("1999-W01", "2004 年以前的周不能考核。")):
        response = post_api(flow, "quality_head", "/api/v1/assessments", {"week": week})
        assert response.status_code == 422, week
        assert response.get_json()["error"]["fields"] == {"week": [message]}, week
    assert post_api(flow, "quality_head", "/api/v1/assessments", {"week": "2026-W123456"}).status_code == 422
    assert assessments(flow) == []
    assert post_api(flow, "quality_head", "/api/v1/assessments", {"week": "2026-W10"}).status_code == 201


def test_the_head_of_quality_starts_the_previous_week_from_the_assessments_page(flow):
    clock.set(shanghai(16, 10))  # Monday of 2026-W12
    client = flow.client("quality_head")
    page = client.get("/assessments/").get_data(as_text=True)
    assert 'data-testid="assessment-start-form"' in page
    assert re.search(r'name="week"[^>]*value="2026-W11"', page)  # the previous week by default
    token = csrf_token(client, "/assessments/")
    response = client.post("/assessments/start", data={"csrf_token": token, "week": "2026-W13"})
    assert response.status_code == 422
    assert "只能考核已结束的周。" in response.get_data(as_text=True)
    assert assessments(flow) == []

    response = client.post("/assessments/start", data={"csrf_token": token, "week": "2026-W11"})
    [started] = assessments(flow)
    assert response.status_code == 302 and response.headers["Location"] == f"/assessments/{started.id}"
    assert "已启动 2026-W11 周的考核。" in client.get(response.headers["Location"]).get_data(as_text=True)
    response = client.post("/assessments/start", data={"csrf_token": token, "week": "2026-W11"},
                           follow_redirects=True)
    assert "2026-W11 周的考核已经启动过，这就是它。" in response.get_data(as_text=True)
    assert len(assessments(flow)) == 1
    listed = flow.client("quality").get("/assessments/").get_data(as_text=True)
    assert f'data-instance-id="{started.id}"' in listed
    # Quality's staff and Finance read the list, but the start is not theirs
    assert 'data-testid="assessment-start-form"' not in listed
    for username in ("quality", "finance", "designer"):
        other = flow.client(username)
        assert other.post("/assessments/start", data={"csrf_token": csrf_token(other, "/inbox/"),
                                                      "week": "2026-W10"}).status_code == 403, username
    admin = flow.client("admin")
    assert 'data-testid="assessment-start-form"' in admin.get("/assessments/").get_data(as_text=True)
    response = admin.post("/assessments/start", data={"csrf_token": csrf_token(admin, "/assessments/"),
                                                      "week": "2026-W10"})
    assert response.status_code == 302 and len(assessments(flow)) == 2


def test_a_start_looks_its_process_up_once_per_transaction(flow):
    """An entry point authorizes before it reads its input, then starts: the plan found first is
    the one started (one look-up of the live version), and a new transaction looks again."""
    from sqlalchemy import event

    from app.services import starts

    engine = flow.database.engine
    looked: list[str] = []

    def count(_conn, _cursor, statement, *_rest):
        if "FROM process_definition" in statement:
            looked.append(statement)

    with flow.database.transaction() as session:
        admin = session.scalars(select(User).where(User.username == "admin")).one()
        event.listen(engine, "before_cursor_execute", count)
        try:
            first = starts.authorize(session, admin, "weekly_assessment")
            assert starts.plan(session, "weekly_assessment") is first
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert len(looked) == 1
    with flow.database.transaction() as session:
        again = starts.plan(session, "weekly_assessment")
        assert again is not None and again is not first and again.definition.id == first.definition.id
