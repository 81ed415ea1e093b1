"""A start and a completion answer with the instance's open tasks, as the instance read
(``GET /api/v1/instances/<id>``) would list them right after: a client goes on to the next step
without reading the instance again. The rows come from the operation itself, not from a query."""

from __future__ import annotations

from sqlalchemy import event

from tests.process_http.payloads import analysis, intake, verify_ok


def instance_tasks(flow, instance_id: int, locale: str = "zh") -> list[dict]:
    response = flow.client("admin").get(f"/api/v1/instances/{instance_id}",
                                        headers={**flow.headers("admin"), "Accept-Language": locale})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["open_tasks"]


def submit(flow, username: str, task_id: str, data: dict, locale: str = "zh", token: str | None = None):
    body = {"data": data, **({"submit_token": token} if token else {})}
    response = flow.client(username).post(f"/api/v1/tasks/{task_id}/complete", json=body,
                                          headers={**flow.headers(username), "Accept-Language": locale})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_each_completion_answers_with_the_open_tasks_the_instance_read_shows(flow):
    case_id = flow.open_case(**intake())
    instance_id = flow.instance_id(case_id)
    verify = flow.find("marketing", "verify", case_id)
    answer = submit(flow, "marketing", verify["id"], verify_ok())
    assert answer["id"] == verify["id"] and answer["status"] == "completed"
    assert answer["instance_open_tasks"] == instance_tasks(flow, instance_id)
    assert sorted(t["element_id"] for t in answer["instance_open_tasks"]) == ["preliminary", "technical_review"]

    # several departments: several open tasks at once, each with its department, in English
    preliminary = next(t for t in answer["instance_open_tasks"] if t["element_id"] == "preliminary")
    answer = submit(flow, "quality", preliminary["id"],
                    analysis(responsible_departments=["production", "purchasing"]), locale="en")
    listed = instance_tasks(flow, instance_id, "en")
    assert answer["instance_open_tasks"] == listed
    assert len(listed) >= 2 and {t["department"] for t in listed} >= {"production", "purchasing"}
    assert all(t["name"] and t["status"] == "open" for t in listed)


def test_a_repeated_submit_answers_with_the_current_open_tasks(flow):
    case_id = flow.open_case(**intake())
    verify = flow.find("marketing", "verify", case_id)
    first = submit(flow, "marketing", verify["id"], verify_ok(), token="tok-1")
    again = submit(flow, "marketing", verify["id"], verify_ok(), token="tok-1")
    assert again["id"] == first["id"]
    assert again["instance_open_tasks"] == first["instance_open_tasks"] == instance_tasks(
        flow, flow.instance_id(case_id))


def test_the_answer_costs_no_statement_of_its_own(flow):
    """The open tasks come from the completion's projection: no read of the instance's tasks."""
    case_id = flow.open_case(**intake())
    verify = flow.find("marketing", "verify", case_id)
    executed: list[str] = []

    def watch(_conn, _cursor, statement, *_args):
        executed.append(" ".join(statement.split()))

    engine = flow.database.engine
    event.listen(engine, "before_cursor_execute", watch)
    try:
        answer = submit(flow, "marketing", verify["id"], verify_ok())
    finally:
        event.remove(engine, "before_cursor_execute", watch)
    assert answer["instance_open_tasks"]
    assert not [s for s in executed if s.startswith("SELECT") and "ORDER BY human_task.created_at" in s]


def test_a_start_by_hand_answers_with_the_new_instance_open_tasks(flow):
    from bench.reference import KEY, deploy_reference

    with flow.database.transaction() as session:
        deploy_reference(session)
    response = flow.client("admin").post(f"/api/v1/process-definitions/{KEY}/start", json={},
                                         headers=flow.headers("admin"))
    assert response.status_code == 201, response.get_json()
    started = response.get_json()
    assert started["open_tasks"] == instance_tasks(flow, started["instance_id"])
    assert [t["element_id"] for t in started["open_tasks"]] == ["task_1"]

    # through the steps to the end: each answer names the next, the last one none
    todo, seen = started["open_tasks"], []
    while todo:
        seen.append(todo[0]["element_id"])
        todo = submit(flow, "quality", todo[0]["id"], {"note": "ok"})["instance_open_tasks"]
    assert seen == [f"task_{i}" for i in range(1, 9)]
    assert instance_tasks(flow, started["instance_id"]) == []
