"""Task list, detail, claim/unclaim and completion through the API."""

from __future__ import annotations

from tests.api.helpers import (
    VERIFY_OK,
    assert_error,
    auth,
    case_detail,
    complete,
    counts,
    create_case,
    open_tasks,
    the_task,
)

UNKNOWN_TASK = "00000000-0000-0000-0000-000000000000"


def _case_with_verify(client):
    marketing = auth(client, "marketing")
    case = create_case(client, marketing)
    return marketing, case, the_task(client, marketing, case["id"], "verify")


def test_task_list_per_scope(client):
    marketing, case, verify = _case_with_verify(client)
    ids = lambda response: [t["id"] for t in response.get_json()["tasks"]]  # noqa: E731
    assert ids(client.get("/api/v1/tasks?scope=department", headers=marketing)) == [verify["id"]]
    assert ids(client.get("/api/v1/tasks", headers=marketing)) == [verify["id"]]
    assert ids(client.get("/api/v1/tasks?scope=mine", headers=marketing)) == []
    quality = auth(client, "quality")
    assert ids(client.get("/api/v1/tasks?scope=department", headers=quality)) == []
    assert ids(client.get("/api/v1/tasks?scope=all", headers=quality)) == []
    assert ids(client.get("/api/v1/tasks?scope=all", headers=auth(client, "manager"))) == [verify["id"]]
    assert client.post(f"/api/v1/tasks/{verify['id']}/claim", headers=marketing).status_code == 200
    [mine] = client.get("/api/v1/tasks?scope=mine", headers=marketing).get_json()["tasks"]
    assert mine["id"] == verify["id"] and mine["assignee"] == "marketing"
    assert set(mine) >= {"id", "case_id", "case_number", "name", "form_key", "department", "assignee",
                         "due_at", "created_at"}
    assert mine["case_number"] == case["number"] and mine["name"] == "核实反馈"
    for bad in ("?scope=everything", "?limit=0", "?limit=x", "?offset=-1", "?scope=%00"):
        assert_error(client.get("/api/v1/tasks" + bad, headers=marketing), 400)


def test_task_detail_has_the_form_schema(client):
    marketing, case, verify = _case_with_verify(client)
    response = client.get(f"/api/v1/tasks/{verify['id']}", headers=marketing)
    assert response.status_code == 200
    task = response.get_json()
    assert task["id"] == verify["id"] and task["can_act"] is True
    form = task["form"]
    assert form["key"] == "verify_fixture"
    fields = {f["name"]: f for f in form["fields"]}
    assert list(fields) == ["info_complete", "verify_note", "measures"]
    assert fields["info_complete"]["type"] == "radio" and fields["info_complete"]["required"] is True
    assert [c["value"] for c in fields["info_complete"]["choices"]] == ["yes", "no"]
    assert fields["info_complete"]["multiple"] is False
    assert fields["measures"]["multiple"] is True and fields["measures"]["max_rows"] == 3
    assert [f["name"] for f in fields["measures"]["fields"]] == ["action", "owner"]
    owners = [c["value"] for c in fields["measures"]["fields"][1]["choices"]]
    assert "production" in owners and "marketing_head" in owners
    assert task["data"] == {}


def test_unknown_invisible_and_forbidden_tasks(client, database):
    marketing, case, verify = _case_with_verify(client)
    for task_id in (UNKNOWN_TASK, "x" * 500, "not%00valid"):
        assert_error(client.get(f"/api/v1/tasks/{task_id}", headers=marketing), 404)
        assert_error(client.post(f"/api/v1/tasks/{task_id}/claim", headers=marketing), 404)
        assert_error(complete(client, marketing, task_id, VERIFY_OK), 404)
    production = auth(client, "production")
    before = counts(database)
    assert_error(client.get(f"/api/v1/tasks/{verify['id']}", headers=production), 403)
    assert_error(client.post(f"/api/v1/tasks/{verify['id']}/claim", headers=production), 403)
    assert_error(complete(client, production, verify["id"], VERIFY_OK), 403)
    assert counts(database) == before
    # a manager sees the task but is not in marketing: may not act
    manager = auth(client, "manager")
    assert client.get(f"/api/v1/tasks/{verify['id']}", headers=manager).get_json()["can_act"] is False
    assert_error(complete(client, manager, verify["id"], VERIFY_OK), 403)


def test_claim_unclaim_and_conflict(client):
    marketing, case, verify = _case_with_verify(client)
    url = f"/api/v1/tasks/{verify['id']}"
    claimed = client.post(url + "/claim", headers=marketing)
    assert claimed.status_code == 200 and claimed.get_json()["assignee"] == "marketing"
    assert client.post(url + "/claim", headers=marketing).status_code == 200  # claiming again is harmless
    head = auth(client, "marketing_head")
    error = assert_error(client.post(url + "/claim", headers=head), 409)
    assert error["code"] == "task_not_open"
    # the department head passes the permission check on a claimed task (and fails only validation)
    assert_error(complete(client, head, verify["id"], {"verify_note": "head"}), 422)
    released = client.post(url + "/unclaim", headers=marketing)
    assert released.status_code == 200 and released.get_json()["assignee"] is None
    assert client.post(url + "/claim", headers=head).get_json()["assignee"] == "marketing_head"
    assert_error(client.post(url + "/unclaim", headers=marketing), 403)  # not the assignee, not head
    assert_error(complete(client, marketing, verify["id"], VERIFY_OK), 403)  # someone else holds it
    assert client.post(url + "/unclaim", headers=head).status_code == 200
    assert complete(client, marketing, verify["id"], VERIFY_OK).status_code == 200
    assert_error(client.post(url + "/claim", headers=marketing), 409)
    assert_error(client.post(url + "/unclaim", headers=marketing), 409)
    assert_error(client.get(url + "/claim", headers=marketing), 405)


def test_complete_moves_the_process_on(client, database):
    marketing, case, verify = _case_with_verify(client)
    response = complete(client, marketing, verify["id"], VERIFY_OK)
    assert response.status_code == 200
    done = response.get_json()
    assert done["id"] == verify["id"] and done["status"] == "completed" and done["completed_at"]
    quality = auth(client, "quality")
    [analysis] = client.get("/api/v1/tasks?scope=department", headers=quality).get_json()["tasks"]
    assert analysis["case_id"] == case["id"] and analysis["department"] == "quality"
    assert analysis["form_key"] == "analysis_fixture"
    detail = case_detail(client, quality, case["id"])
    assert [t["element_id"] for t in detail["open_tasks"]] == ["analysis"]
    assert [h["action"] for h in detail["history"]] == ["process_started", "task_completed"]
    # the completed task now answers 409, whoever asks
    before = counts(database)
    error = assert_error(complete(client, marketing, verify["id"], VERIFY_OK), 409)
    assert error["message"]
    assert counts(database) == before


def test_same_submit_token_is_idempotent(client, database):
    marketing, case, verify = _case_with_verify(client)
    first = complete(client, marketing, verify["id"], VERIFY_OK, submit_token="tok-123")
    assert first.status_code == 200
    after_first = counts(database)
    again = complete(client, marketing, verify["id"], VERIFY_OK, submit_token="tok-123")
    assert again.status_code == 200
    assert again.get_json()["id"] == verify["id"] and again.get_json()["status"] == "completed"
    assert counts(database) == after_first
    assert_error(complete(client, marketing, verify["id"], VERIFY_OK, submit_token="other"), 409)
    assert len(open_tasks(client, marketing, case["id"], "analysis")) == 1


def test_invalid_data_answers_422_and_changes_nothing(client, database):
    marketing, case, verify = _case_with_verify(client)
    before = counts(database)
    bad = {"info_complete": "maybe", "measures": [{"action": ""}, {"action": "b"}, {"action": "c"}, {"action": "d"}]}
    error = assert_error(complete(client, marketing, verify["id"], bad), 422)
    assert "info_complete" in error["fields"]
    assert "measures" in error["fields"] or any(k.startswith("measures[") for k in error["fields"])
    error = assert_error(complete(client, marketing, verify["id"], {"info_complete": "yes"}), 422)
    assert "measures" in error["fields"]
    # wrong types
    for data in ({"info_complete": ["yes"], "measures": [{"action": "a"}]},
                 {"info_complete": "yes", "measures": "a"},
                 {"info_complete": "yes", "measures": [{"action": {"x": 1}}]},
                 "yes", None, [VERIFY_OK]):
        error = assert_error(complete(client, marketing, verify["id"], data), 422)
        assert error["fields"], data
    error = assert_error(complete(client, marketing, verify["id"], VERIFY_OK, submit_token=""), 422)
    assert list(error["fields"]) == ["submit_token"]
    assert_error(complete(client, marketing, verify["id"], VERIFY_OK, submit_token="x" * 65), 422)
    bad_body = client.post(f"/api/v1/tasks/{verify['id']}/complete", json={"data": VERIFY_OK, "extra": 1},
                           headers=marketing)
    assert list(assert_error(bad_body, 422)["fields"]) == ["extra"]
    assert_error(client.post(f"/api/v1/tasks/{verify['id']}/complete", data="{", headers=marketing,
                             content_type="application/json"), 400)
    assert_error(client.post(f"/api/v1/tasks/{verify['id']}/complete", headers=marketing), 400)
    assert counts(database) == before
    [still] = case_detail(client, marketing, case["id"])["open_tasks"]
    assert still["id"] == verify["id"] and still["status"] == "open"


def test_production_may_not_act_on_a_marketing_task(client, database):
    marketing, case, verify = _case_with_verify(client)
    production = auth(client, "production")
    before = counts(database)
    assert_error(complete(client, production, verify["id"], VERIFY_OK), 403)
    assert_error(client.post(f"/api/v1/tasks/{verify['id']}/claim", headers=production), 403)
    assert counts(database) == before


def test_unknown_api_paths_answer_json(client):
    headers = auth(client, "marketing")
    assert_error(client.get("/api/v1/nothing-here", headers=headers), 404)
    assert_error(client.get("/api/v1/", headers=headers), 404)
    error_405 = client.delete("/api/v1/tasks", headers=headers)
    assert_error(error_405, 405)
    assert "GET" in error_405.headers["Allow"]


def test_routing_errors_follow_the_callers_language_and_allow_names_only_real_methods(client):
    missing = client.get("/api/v1/nothing-here", headers={"Accept-Language": "en"})
    assert missing.status_code == 404 and missing.get_json()["error"]["message"] == "There is no such API endpoint."
    chinese = client.get("/api/v1/nothing-here")
    assert chinese.get_json()["error"]["status"] == 404 and chinese.get_json()["error"]["message"] != (
        "There is no such API endpoint.")
    wrong = client.put("/api/v1/tasks", headers={"Accept-Language": "en"})
    assert wrong.status_code == 405 and wrong.get_json()["error"]["message"] == "This method is not allowed here."
    assert set(wrong.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}
    options = client.options("/api/v1/tasks")
    assert not {"PUT", "PATCH", "DELETE"} & set(options.headers["Allow"].split(", "))
    odd = client.get("/api/v1/cases/%ff%00")
    assert odd.status_code == 404 and "error" in odd.get_json()
    assert client.get("/nothing-here").status_code == 404  # the web keeps its own pages
