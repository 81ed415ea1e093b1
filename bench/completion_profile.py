"""What one task completion costs, through the API, with every production hook on.

    .venv/bin/python bench/completion_profile.py [--db sqlite|postgres] [--cases 200]
        [--clients 8] [--no-http] [--profile out.txt]

On a fresh database (a SQLite file, or a new PostgreSQL database that is dropped at the
end) with the demo organisation and the production diagrams deployed, it creates cases and
completes their first task (``verify``, marketing's check of a complaint: a
typical form with a repeating group, followed by every hook — case projection, lateness,
notifications and their outbox rows, timers, the audit chain):

- in-process (Flask test client, no server): SQL statements per completion, counted with a
  SQLAlchemy ``before_cursor_execute`` listener — deterministic — and the p50 of one client;
  ``--profile`` writes a pyinstrument profile of the completions;
- over HTTP through gunicorn (2 sync workers, production config): p50 with one client and
  completions per second with ``--clients`` concurrent clients.

The engine floor is measured in the same run on the same task: SpiffWorkflow alone loads the
stored state (cached spec), completes the task, runs the engine steps and dumps the state.
Ratios are p50 ÷ that floor (``*_x_floor``) and ÷ the issue's 0.54 ms (``*_x_issue_floor``,
a trivial 8-step diagram). On a shared machine wall times follow the load; the CPU times of
the in-process run (``*_cpu_*``, this process only: the app and SQLite, not a PostgreSQL
server) are steadier. The full benchmark with many more metrics is ``make bench``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PG_ADMIN = os.environ.get("PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
ENGINE_FLOOR_MS = 0.54
INTAKE: dict[str, Any] = {
    "customer_name": "宁波海天机械", "customer_contact": "张工 13800000000", "product_model": "HT-200",
    "description": "主轴异响,客户要求派人到现场。", "defective_qty": 3, "demands": ["onsite", "exchange"],
    "feedback_type": "complaint", "urgency": "urgent", "ship_date": "2024-03-01", "channel": "hotline",
    "customer_email": "zhang@example.com",
}
VERIFY = {
    "info_complete": "yes", "verified_description": "报警代码E21,已确认", "onsite_needed": False,
    "temporary_measures": [{"measure": "先补发2台控制板", "owner": "李四", "due_date": "2026-03-04"}],
    "request_type": "replenish", "request_items": [{"item": "控制板", "model": "CB-2", "qty": 2}],
    "request_reason": "客户停线",
}


def make_database(kind: str, workdir: Path) -> tuple[str, Any]:
    """A fresh, migrated database with the demo organisation and the production diagrams."""
    from app.data.db import Database
    from app.data.migrate import upgrade
    from app.services.setup import deploy_folder, seed_demo

    drop = None
    if kind == "postgres":
        import psycopg

        name = f"bench_completion_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}"

        def drop() -> None:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
                conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    else:
        url = f"sqlite:///{workdir / 'bench.db'}"
    upgrade(url)
    database = Database(url)
    with database.transaction() as session:
        seed_demo(session)
        deploy_folder(session, ROOT / "bpmn", ROOT / "forms")
    database.dispose()
    return url, drop


def production_env(url: str, workdir: Path) -> dict[str, str]:
    return {
        **os.environ, "APP_ENV": "production", "SECRET_KEY": "bench-" + uuid.uuid4().hex,
        "DATABASE_URL": url, "UPLOAD_DIR": str(workdir / "uploads"), "SESSION_COOKIE_SECURE": "0",
        "SCHEDULER_ENABLED": "0", "PUBLIC_REQUEST_LIMIT": "100000",
        "AUDIT_HEAD_LOG": str(workdir / "heads.log"),
    }


# ---------------------------------------------------------------- a client of the API

class Api:
    """Calls over HTTP (``http.client``, one kept-alive connection) or a Flask test client."""

    def __init__(self, port: int | None = None, test_client: Any = None) -> None:
        self.port, self.test_client = port, test_client
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60) if port else None
        self.headers: dict[str, str] = {"Content-Type": "application/json"}

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        if self.test_client is not None:
            response = self.test_client.open(path, method=method, json=body, headers=self.headers)
            return response.status_code, response.get_json()
        assert self.conn is not None
        self.conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=self.headers)
        response = self.conn.getresponse()
        return response.status, json.loads(response.read() or b"null")

    def sign_in(self, username: str) -> Api:
        status, body = self.call("POST", "/api/v1/auth/token", {"username": username, "password": "demo"})
        assert status == 200, body
        self.headers["Authorization"] = f"Bearer {body['token']}"
        return self

    def new_verify_task(self) -> str:
        status, case = self.call("POST", "/api/v1/cases", INTAKE)
        assert status == 201, case
        status, detail = self.call("GET", f"/api/v1/cases/{case['id']}")
        return next(t["id"] for t in detail["open_tasks"] if t["element_id"] == "verify")

    def complete(self, task_id: str) -> None:
        status, body = self.call("POST", f"/api/v1/tasks/{task_id}/complete", {"data": VERIFY})
        assert status == 200, body


def p(samples: list[float], q: float) -> float:
    samples = sorted(samples)
    return samples[min(len(samples) - 1, int(len(samples) * q))]


# ---------------------------------------------------------------- in-process

def production_app(url: str, workdir: Path) -> Any:
    """The app in-process with the production configuration and every hook, on ``url``."""
    from app import create_app
    from config import ProductionConfig

    os.environ.update(production_env(url, workdir))

    class Cfg(ProductionConfig):
        DATABASE_URL = url
        SECRET_KEY = os.environ["SECRET_KEY"]
        UPLOAD_DIR = str(workdir / "uploads")
        PUBLIC_REQUEST_LIMIT = 100000

    return create_app(Cfg)


def in_process(url: str, workdir: Path, cases: int, profile: str | None, trace: bool = False) -> dict[str, Any]:
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    app = production_app(url, workdir)
    engine = app.extensions["database"].engine
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        where = [f"{Path(f.filename).stem}:{f.lineno}" for f in traceback.extract_stack()
                 if "/app/" in f.filename and "/data/db.py" not in f.filename][-3:] if trace else []
        statements.append(statement + ("  <- " + " < ".join(reversed(where)) if where else ""))

    event.listen(engine, "before_cursor_execute", count)
    flushes: list[int] = []
    event.listen(Session, "after_flush", lambda *_a: flushes.append(1))
    client = app.test_client()
    marketing, quality = Api(test_client=client).sign_in("marketing"), Api(test_client=client).sign_in("marketing")
    marketing.headers = {**marketing.headers}
    tasks = [marketing.new_verify_task() for _ in range(cases)]
    counts, times = [], []
    profiler = None
    if profile and profile.endswith(".pstats"):  # CPU time, steadier than wall time on a busy machine
        import cProfile

        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
    elif profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005)
        profiler.start()
    floor_task = tasks.pop()
    cpu = []
    flush_counts = []
    for task_id in tasks:
        statements.clear()
        flushes.clear()
        start, start_cpu = time.perf_counter(), time.process_time()
        quality.complete(task_id)
        cpu.append((time.process_time() - start_cpu) * 1000)
        times.append((time.perf_counter() - start) * 1000)
        counts.append(len(statements))
        flush_counts.append(len(flushes))
    if profile and profile.endswith(".pstats"):
        profiler.disable()
        profiler.dump_stats(profile)
    elif profiler is not None:
        profiler.stop()
        Path(profile).write_text(profiler.output_text(unicode=True, color=False, show_all=False))
    sample = list(statements)
    floor_ms, floor_cpu_ms = engine_floor(app, floor_task)
    app.extensions["database"].dispose()
    return {"sql_statements_per_completion": statistics.median(counts), "sql_statements_max": max(counts),
            "flushes_per_completion": statistics.median(flush_counts),
            "engine_floor_ms": floor_ms, "engine_floor_cpu_ms": floor_cpu_ms,
            "inprocess_p50_ms": statistics.median(times), "inprocess_cpu_p50_ms": statistics.median(cpu),
            "statements": sample}


def per_task(url: str, workdir: Path, cases: int, show_sql: bool = False) -> dict[str, Any]:
    """The bench's workloads in-process, statements and CPU ms (p50) per submit by task: the
    complaint's 7 tasks (bench/workload.py) and the reference diagram's 8 (bench/reference.py)."""
    from sqlalchemy import event

    from bench import reference
    from bench.workload import STEPS
    from tests.process_http.payloads import intake

    app = production_app(url, workdir)
    with app.extensions["database"].transaction() as session:
        reference.deploy_reference(session)
    counter = [0]
    last: dict[str, list[str]] = {}
    current: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        counter[0] += 1
        if show_sql:
            where = [f"{Path(f.filename).stem}:{f.lineno}" for f in traceback.extract_stack()
                     if "/app/" in f.filename and "/data/db.py" not in f.filename][-3:]
            current.append(" ".join(statement.split())[:90] + "  <- " + " < ".join(reversed(where)))

    event.listen(app.extensions["database"].engine, "before_cursor_execute", count)
    client = app.test_client()
    apis = {user: Api(test_client=client).sign_in(user) for user in ("marketing", "technical", "quality", "production",
                                                                       "admin")}
    found: dict[str, list[tuple[int, float]]] = {}

    def submit(label: str, user: str, task_id: str, data: dict[str, Any]) -> None:
        counter[0] = 0
        current.clear()
        start_cpu = time.process_time()
        status, body = apis[user].call("POST", f"/api/v1/tasks/{task_id}/complete", {"data": data})
        assert status == 200, body
        last[label] = list(current)
        found.setdefault(label, []).append((counter[0], (time.process_time() - start_cpu) * 1000))

    for _ in range(cases):
        status, case = apis["marketing"].call("POST", "/api/v1/cases", intake())
        assert status == 201, case
        while True:
            _status, detail = apis["quality"].call("GET", f"/api/v1/cases/{case['id']}")
            todo = [t for t in detail["open_tasks"] if t["element_id"] in STEPS]
            if not todo:
                break
            user, data = STEPS[todo[0]["element_id"]]
            submit(todo[0]["element_id"], user, todo[0]["id"], data)
        status, started = apis["admin"].call("POST", f"/api/v1/process-definitions/{reference.KEY}/start", {})
        assert status == 201, started
        while True:
            _status, instance = apis["admin"].call("GET", f"/api/v1/instances/{started['instance_id']}")
            if not instance["open_tasks"]:
                break
            task = instance["open_tasks"][0]
            submit(f"reference:{task['element_id']}", "quality", task["id"], reference.DATA)
    app.extensions["database"].dispose()
    table = {label: {"statements": statistics.median(n for n, _ in runs),
                     "cpu_ms_p50": round(statistics.median(c for _, c in runs), 1)} for label, runs in found.items()}
    real = [v["statements"] for k, v in table.items() if not k.startswith("reference:")]
    ref = [v["statements"] for k, v in table.items() if k.startswith("reference:")]
    if show_sql:
        for label, statements in last.items():
            print(f"--- {label}")
            print("\n".join(f"{n:3} {text}" for n, text in enumerate(statements, 1)))
    return {"per_task": table, "complaint_mean_statements": round(statistics.mean(real), 1),
            "reference_mean_statements": round(statistics.mean(ref), 1)}


def engine_floor(app: Any, task_id: str, repeat: int = 50) -> tuple[float, float]:
    """The same completion by SpiffWorkflow alone, p50 wall and CPU ms, measured as the bench's
    engine floor is (:func:`bench.floor.floor_of`) on the task's stored state."""
    from app.data.models import HumanTask, ProcessInstance
    from bench.floor import floor_of

    with app.extensions["database"].session() as session:
        instance = session.get(ProcessInstance, session.get(HumanTask, task_id).instance_id)
        captured = [(instance.state, instance.definition_id, task_id, VERIFY)]
    floor = floor_of(app, captured, repeat)
    return floor["ms_per_task"], floor["cpu_ms_per_task"]


# ---------------------------------------------------------------- over HTTP (gunicorn)

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def over_http(url: str, workdir: Path, cases: int, clients: int, workers: int) -> dict[str, Any]:
    port = free_port()
    server = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "-w", str(workers), "-b", f"127.0.0.1:{port}",
         "--log-level", "warning", "wsgi:app"],
        cwd=ROOT, env=production_env(url, workdir),
    )
    try:
        deadline = time.time() + 60
        while True:
            try:
                Api(port).call("GET", "/api/v1/health")
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        marketing = Api(port).sign_in("marketing")
        single = [marketing.new_verify_task() for _ in range(min(cases, 100))]
        quality = Api(port).sign_in("marketing")
        for task_id in single[:5]:  # warm both workers' caches
            quality.complete(task_id)
        times = []
        for task_id in single[5:]:
            start = time.perf_counter()
            quality.complete(task_id)
            times.append((time.perf_counter() - start) * 1000)
        many = [marketing.new_verify_task() for _ in range(cases)]
        shares = [many[i::clients] for i in range(clients)]
        apis = [Api(port).sign_in("marketing") for _ in range(clients)]
        errors: list[BaseException] = []

        def run(api: Api, share: list[str]) -> None:
            try:
                for task_id in share:
                    api.complete(task_id)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(api, share)) for api, share in zip(apis, shares, strict=True)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - start
        if errors:
            raise errors[0]
        return {"http_p50_ms": statistics.median(times), "http_p95_ms": p(times, 0.95),
                f"completions_per_s_{clients}_clients": cases / elapsed}
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:  # a worker still busy with a dropped client
            server.kill()
            server.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--floor", type=float, default=ENGINE_FLOOR_MS)
    parser.add_argument("--no-http", action="store_true")
    parser.add_argument("--profile", help="write a profile of the in-process completions here: *.pstats "
                        "(cProfile, CPU time), else pyinstrument's text (wall time)")
    parser.add_argument("--show-sql", action="store_true", help="print the statements of the last completion")
    parser.add_argument("--per-task", action="store_true", help="statements and CPU per task of the bench's "
                        "workloads (the complaint's 7 tasks, the reference's 8) instead")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        url, drop = make_database(args.db, workdir)
        try:
            if args.per_task:
                figures = per_task(url, workdir, min(args.cases, 20), args.show_sql)
                print(json.dumps({**figures, "db": args.db, "load_average": os.getloadavg()[0]}, indent=1))
                return
            result = in_process(url, workdir, min(args.cases, 100), args.profile, args.show_sql)
            if not args.no_http:
                result.update(over_http(url, workdir, args.cases, args.clients, args.workers))
        finally:
            if drop:
                drop()
    sql = result.pop("statements")
    if args.show_sql:
        for number, statement in enumerate(sql, 1):
            text = " ".join(statement.split())
            print(f"{number:3} {text[:90]}{'  <-' + text.split('<-', 1)[1] if '<-' in text else ''}")
    result["db"] = args.db
    result["load_average"] = os.getloadavg()[0]
    for key in ("inprocess_p50_ms", "http_p50_ms"):
        if key in result:
            result[key.replace("_ms", "_x_floor")] = round(result[key] / result["engine_floor_ms"], 1)
            result[key.replace("_ms", "_x_issue_floor")] = round(result[key] / args.floor, 1)
    result["inprocess_cpu_x_floor"] = round(result["inprocess_cpu_p50_ms"] / result["engine_floor_cpu_ms"], 1)
    print(json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in result.items()}, indent=1))


if __name__ == "__main__":
    main()
