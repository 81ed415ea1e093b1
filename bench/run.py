"""Benchmarks of the hot paths, on a database filled to production-like size.

    .venv/bin/python bench/run.py [--tasks 100000] [--database-url URL]

Measures (median and p95 of repeated runs):
- inbox: the first page of a department queue and of "my tasks", read from the indexed
  ``human_task`` projection (target: p95 under 50 ms at 100k open tasks);
- complete: completing a human task through the engine, one transaction each (target:
  p95 under 150 ms on SQLite).
Results are printed and written to bench/results/<timestamp>.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select  # noqa: E402

from app.clock import clock  # noqa: E402
from app.data.db import Database  # noqa: E402
from app.data.migrate import upgrade  # noqa: E402
from app.data.models import Department, HumanTask, ProcessInstance, User  # noqa: E402
from app.data.queries.inbox import open_tasks_query  # noqa: E402
from app.engine.context import Actor  # noqa: E402
from app.engine.runtime import WorkflowRuntime  # noqa: E402
from app.services.setup import deploy_folder, seed_demo  # noqa: E402

TARGETS_MS = {"inbox_department_p95": 50.0, "inbox_mine_p95": 50.0, "complete_p95": 150.0}


def timed(fn, repeat: int) -> dict[str, float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return {"median_ms": statistics.median(samples), "p95_ms": samples[int(len(samples) * 0.95) - 1]}


def fill_projection(database: Database, count: int) -> None:
    """Bulk-insert open task rows spread over departments (as the projection would hold them)."""
    with database.transaction() as session:
        dept_ids = list(session.scalars(select(Department.id)))
        user_ids = list(session.scalars(select(User.id)))
        definition_instance = session.scalars(select(ProcessInstance.id).limit(1)).first()
        now = clock.now()
        batch = []
        for i in range(count):
            batch.append({
                "id": str(uuid.uuid4()), "instance_id": definition_instance, "process_key": "feedback_case",
                "element_id": "verify", "title": "核实反馈", "state": "open",
                "department_id": dept_ids[i % len(dept_ids)],
                "assignee_id": user_ids[i % len(user_ids)] if i % 3 == 0 else None,
                "created_at": now - timedelta(minutes=i), "due_at": now + timedelta(hours=(i % 96) - 24),
                "priority": 0, "case_number": f"FB-2026-{i:06d}", "customer_name": f"客户{i}",
                "context": {},
            })
            if len(batch) == 5000:
                session.execute(insert(HumanTask), batch)
                batch = []
        if batch:
            session.execute(insert(HumanTask), batch)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--completions", type=int, default=50)
    parser.add_argument("--database-url", default=f"sqlite:///{ROOT / 'instance' / 'bench.db'}")
    args = parser.parse_args()

    if args.database_url.startswith("sqlite:///"):
        path = Path(args.database_url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    upgrade(args.database_url)
    database = Database(args.database_url)
    runtime = WorkflowRuntime()
    with database.transaction() as session:
        seed_demo(session)
        deploy_folder(session, ROOT / "tests" / "fixtures" / "bpmn", ROOT / "tests" / "fixtures" / "forms")
    # Instances to complete, each with its own open verify task.
    actor = Actor(None, "bench")
    task_ids = []
    for _ in range(args.completions):
        with database.transaction() as session:
            instance = runtime.start(session, "feedback_case", {"customer_name": "bench"}, actor)
            task_ids.append(session.scalars(select(HumanTask.id).where(HumanTask.instance_id == instance.id)).one())
    fill_projection(database, args.tasks)

    results: dict[str, object] = {"tasks": args.tasks, "database": database.dialect}
    with database.session() as session:
        marketing = session.scalars(select(User).where(User.username == "marketing")).one()
        stmt_dept = open_tasks_query(marketing, "department").limit(50)
        stmt_mine = open_tasks_query(marketing, "mine").limit(50)
        results["inbox_department"] = timed(lambda: session.scalars(stmt_dept).all(), 50)
        results["inbox_mine"] = timed(lambda: session.scalars(stmt_mine).all(), 50)

    samples = []
    for task_id in task_ids:
        start = time.perf_counter()
        with database.transaction() as session:
            runtime.complete_task(session, task_id, {"info_complete": "no"}, actor)
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    results["complete"] = {"median_ms": statistics.median(samples), "p95_ms": samples[int(len(samples) * 0.95) - 1]}

    checks = {
        "inbox_department_p95": results["inbox_department"]["p95_ms"],
        "inbox_mine_p95": results["inbox_mine"]["p95_ms"],
        "complete_p95": results["complete"]["p95_ms"],
    }
    failed = [name for name, value in checks.items() if value > TARGETS_MS[name]]
    results["targets_ms"] = TARGETS_MS
    results["failed"] = failed
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
