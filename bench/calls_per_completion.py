"""Python function calls (and CPU) per completion of the reference workload, in-process.

    .venv/bin/python -m bench.calls_per_completion [instances] [repeats]

Run from the tree to measure (the current directory comes first on ``sys.path``; to measure
another tree, run this file by its path from that tree). A fresh
PostgreSQL database (dropped at the end), the production configuration, one thread driving the
app through Flask's test client exactly as ``bench.reference``'s clients do over HTTP (per task
the instance read and the submit; admin starts, Quality completes). Prints JSON: the thread's CPU
per completion for each repeat (still inflated by a loaded machine) and cProfile's count of
Python function calls per completion, which does not depend on the load at all — the steady
figure to compare two trees by when the machine is shared (the Python work of SQLAlchemy,
psycopg and the app is what it counts; the database's own CPU is not in it).
"""

from __future__ import annotations

import cProfile
import json
import os
import pstats
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.getcwd())


def reference_driver(client: Any, read_each: bool = True) -> Callable[[], int]:
    """Sign ``admin`` and ``quality`` in on the app's test ``client``; returns a function that
    starts one reference instance and completes its tasks as ``bench.reference``'s clients do
    over HTTP (admin starts, Quality completes), returning how many it completed. ``read_each``:
    the instance is read before each submit for its next task (``GET /api/v1/instances/<id>``),
    else the next task comes with the answer. Kept in this file, not in ``bench.reference``: the
    script also measures trees whose ``bench`` has no such function."""
    from bench import reference

    headers = {}
    for user in ("admin", "quality"):
        token = client.post("/api/v1/auth/token", json={"username": user, "password": "demo"}).get_json()["token"]
        headers[user] = {"Authorization": f"Bearer {token}"}

    def run_instance() -> int:
        started = client.post(f"/api/v1/process-definitions/{reference.KEY}/start", json={}, headers=headers["admin"])
        if started.status_code != 201:
            raise RuntimeError(started.get_data(as_text=True))
        body = started.get_json()
        instance_id, todo, done = body["instance_id"], body["open_tasks"], 0
        while True:
            if read_each:
                todo = client.get(f"/api/v1/instances/{instance_id}", headers=headers["admin"]).get_json().get(
                    "open_tasks")
            if not todo:
                return done
            answer = client.post(f"/api/v1/tasks/{todo[0]['id']}/complete", json={"data": reference.DATA},
                                 headers=headers["quality"])
            if answer.status_code != 200:
                raise RuntimeError(answer.get_data(as_text=True))
            done += 1
            if not read_each:  # the next task comes with the answer
                todo = answer.get_json()["instance_open_tasks"]

    return run_instance


def _measure(instances: int, repeats: int) -> dict[str, Any]:
    from app import create_app

    run_instance = reference_driver(create_app().test_client())
    for _ in range(3):  # warm-up: parsed spec, compiled statements, connections
        run_instance()
    cpu = []
    for _ in range(repeats):
        start = time.thread_time()
        done = sum(run_instance() for _ in range(instances))
        cpu.append(round(1000 * (time.thread_time() - start) / done, 3))
    profile = cProfile.Profile(time.thread_time)
    profile.enable()
    done = sum(run_instance() for _ in range(instances))
    profile.disable()
    stats = pstats.Stats(profile)
    return {"completions": done, "cpu_ms_per_completion": cpu,
            "calls_per_completion": round(stats.total_calls / done)}  # type: ignore[attr-defined]


def main() -> None:
    args = [arg for arg in sys.argv[1:] if arg != "--in-app"]
    instances, repeats = (int(args[0]) if args else 5), (int(args[1]) if len(args) > 1 else 3)
    if "--in-app" in sys.argv:  # the child: its configuration comes from the environment
        print(json.dumps(_measure(instances, repeats)))
        return
    from bench import reference, servers

    db = servers.Db("postgres")
    try:
        reference.deploy_into(db.url)
        env = {**db.env(), "PYTHONPATH": os.getcwd()}
        # by path: the script also measures a tree that does not have it (cwd = that tree)
        subprocess.run([sys.executable, __file__, str(instances), str(repeats), "--in-app"], env=env, check=True)
    finally:
        db.drop()


if __name__ == "__main__":
    main()
