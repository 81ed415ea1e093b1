"""The engine floor: SpiffWorkflow alone — deserialize the spec-less state, complete the task,
run the engine on, serialize — for each task of the workload on the real complaint process.

The states are captured from the app itself (in-process, on a scratch SQLite database) as it
completes the workload through its API, so the floor works on exactly what the app works on."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from uuid import UUID

ROOT = Path(__file__).resolve().parents[1]


def scratch_app(prefix: str):
    """The app in-process (test configuration) on a new, migrated SQLite file under a temporary
    folder named ``prefix``…, its uploads beside it."""
    from app import create_app
    from app.data.migrate import upgrade
    from config import TestConfig

    url = f"sqlite:///{tempfile.mkdtemp(prefix=prefix)}/floor.db"
    upgrade(url)

    class Cfg(TestConfig):
        DATABASE_URL = url
        UPLOAD_DIR = tempfile.mkdtemp(prefix=f"{prefix}uploads-")

    return create_app(Cfg)


def capture_states():
    """(state, definition row, task id, data) before each completion of one workload case."""

    from app.data.models import HumanTask, ProcessInstance
    from app.services.setup import deploy_folder, seed_demo
    from bench.workload import STEPS
    from tests.process_http.payloads import intake

    app = scratch_app("bench-floor-")
    database = app.extensions["database"]
    with database.transaction() as session:
        seed_demo(session)
        deploy_folder(session, ROOT / "bpmn", ROOT / "forms")
    runtime = app.extensions["runtime"]
    captured = []
    original = runtime.complete_task

    def spy(session, task_id, data, actor, submit_token=None):
        row = session.get(HumanTask, task_id)
        instance = session.get(ProcessInstance, row.instance_id)
        captured.append((instance.state, instance.definition_id, task_id, dict(data)))
        return original(session, task_id, data, actor, submit_token)

    runtime.complete_task = spy
    client = app.test_client()
    tokens = {}
    for user in ("marketing", "technical", "quality", "production"):
        tokens[user] = {"Authorization": "Bearer " + client.post(
            "/api/v1/auth/token", json={"username": user, "password": "demo"}).get_json()["token"]}
    case_id = client.post("/api/v1/cases", json=intake(), headers=tokens["marketing"]).get_json()["id"]
    while True:
        case = client.get(f"/api/v1/cases/{case_id}", headers=tokens["quality"]).get_json()
        todo = [t for t in case["open_tasks"] if t["element_id"] in STEPS]
        if not todo:
            break
        user, data = STEPS[todo[0]["element_id"]]
        response = client.post(f"/api/v1/tasks/{todo[0]['id']}/complete", json={"data": data}, headers=tokens[user])
        assert response.status_code == 200, response.get_json()
    runtime.complete_task = original
    return app, captured


def engine_floor(repeat: int) -> dict[str, object]:
    app, captured = capture_states()
    return floor_of(app, captured, repeat)


def floor_of(app, captured, repeat: int) -> dict[str, object]:
    """Median wall and CPU ms per task of SpiffWorkflow alone on ``captured`` states (state,
    definition id, task id, data): load the spec-less state (cached spec), complete the task, run
    the engine on with the app's ``advance``, dump the state; the app's database is disposed of."""
    from app.data.models import ProcessDefinition
    from app.engine import codec
    from app.engine.definitions.lookup import load_spec

    runtime = app.extensions["runtime"]
    database = app.extensions["database"]
    per_task: list[float] = []
    per_task_cpu: list[float] = []
    with database.session() as session:
        for state, definition_id, task_id, data in captured:
            parsed = load_spec(session, session.get(ProcessDefinition, definition_id))
            samples, cpu = [], []
            for _ in range(repeat):
                start, start_cpu = time.perf_counter(), time.thread_time()
                workflow = codec.loads(state, parsed.spec, parsed.subprocess_specs, runtime.script_engine())
                task = workflow.get_task_from_id(UUID(task_id))
                task.set_data(**data)
                task.run()
                runtime.advance(workflow)
                codec.dumps(workflow)
                samples.append((time.perf_counter() - start) * 1000)
                cpu.append((time.thread_time() - start_cpu) * 1000)
            per_task.append(statistics.median(samples))
            per_task_cpu.append(statistics.median(cpu))
    database.dispose()
    return {"tasks": len(per_task), "ms_per_task_each": [round(x, 3) for x in per_task],
            "ms_per_task": round(statistics.mean(per_task), 3),
            "cpu_ms_per_task": round(statistics.mean(per_task_cpu), 3),
            "state_bytes_mean": round(statistics.mean(len(s) for s, *_ in captured))}
