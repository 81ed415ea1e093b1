"""The stack's bound (bench/stack_bound.py) does what it claims to do for the reference workload:
the same answers as the app's API for the client, every task completed once, one audit row per
operation, the lane's department checked — with its six statements or with its one write.

PostgreSQL only: its statements are (ARRAY, FOR UPDATE OF, unnest)."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import text

from bench import reference
from bench.stack_bound import create_bound_app

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(os.environ.get("TEST_DB", "sqlite") != "postgres",
                       reason="the bound's statements are PostgreSQL's; run with TEST_DB=postgres"),
]


def _token(client, username: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/token", json={"username": username, "password": "demo"})
    assert response.status_code == 200, response.data
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


@pytest.mark.parametrize("one_write", [False, True], ids=["six-statements", "one-write"])
def test_the_bound_runs_the_reference_workload_and_refuses_what_the_app_refuses(app, database, one_write):
    with database.transaction() as session:
        reference.deploy_reference(session)
    bound = create_bound_app(database.url, one_write=one_write)
    client = bound.test_client()
    admin, quality = _token(client, "admin"), _token(client, "quality")

    assert client.post(f"/api/v1/process-definitions/{reference.KEY}/start").status_code == 401
    assert client.post(f"/api/v1/process-definitions/{reference.KEY}/start", headers=quality).status_code == 403
    started = client.post(f"/api/v1/process-definitions/{reference.KEY}/start", headers=admin)
    assert started.status_code == 201
    instance_id, todo = started.get_json()["instance_id"], started.get_json()["open_tasks"]
    first = f"/api/v1/tasks/{todo[0]['id']}/complete"
    assert client.post(first, headers=admin, json={"data": reference.DATA}).status_code == 403
    assert client.post(first, headers=quality, json={"data": {"note": "x" * 201}}).status_code == 422

    names = []
    while todo:
        names.append(todo[0]["name"])
        answer = client.post(f"/api/v1/tasks/{todo[0]['id']}/complete", headers=quality, json={"data": reference.DATA})
        assert answer.status_code == 200, answer.data
        todo = answer.get_json()["instance_open_tasks"]
    assert names == [f"步骤 {i}" for i in range(1, reference.TASKS + 1)]
    again = client.post(first, headers=quality, json={"data": reference.DATA})
    assert again.status_code == 409

    with database.engine.connect() as conn:
        states = conn.execute(text("SELECT state, count(*) FROM bound_task WHERE instance_id = :i GROUP BY state"),
                              {"i": instance_id}).all()
        audit = conn.execute(text("SELECT action, count(*) FROM bound_audit WHERE instance_id = :i GROUP BY action"),
                             {"i": instance_id}).all()
        version = conn.execute(text("SELECT version FROM bound_instance WHERE id = :i"), {"i": instance_id}).scalar()
    assert dict(states) == {"completed": reference.TASKS}
    assert dict(audit) == {"instance_started": 1, "task_completed": reference.TASKS}
    assert version == 1 + reference.TASKS
    bound.extensions["bound"].engine.dispose()
