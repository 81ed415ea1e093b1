"""The machine's CPU per completion of the reference workload over HTTP, by process.

    BENCH_WORKERS=4 BENCH_THREADS=2 .venv/bin/python -m bench.cpu_per_completion [clients] [instances each]

A fresh PostgreSQL database (dropped at the end), gunicorn with the production configuration,
``bench.reference``'s clients (8 × 3 instances of 8 tasks by default, signed in and warmed up
before anything is counted); CPU time from ``/proc`` of the gunicorn workers and of the
database's backends, and of this process (the load generator), each divided by the completions.
CPU time is steadier than wall time on a shared machine, but still inflated by contention: compare
two trees A/B interleaved (docs/benchmarks.md, "CPU per completion"). Prints JSON.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import reference, servers  # noqa: E402
from bench.load import run_threads  # noqa: E402


def measure(base: str, db: servers.Db, workers: list[int], clients: int, each: int) -> dict[str, Any]:
    sessions = [reference.Client(base) for _ in range(clients)]  # sign-ins (argon2) before counting
    for _ in range(2):
        sessions[0].run_instance()
    done = [0] * clients
    barrier = threading.Barrier(clients + 1)

    def work(index: int) -> None:
        barrier.wait()
        for _ in range(each):
            done[index] += sessions[index].run_instance()

    before = {pid: servers.cpu_seconds(pid) for pid in workers + servers.backend_pids(db)}
    own = time.process_time()
    elapsed = run_threads(clients, work, barrier)
    own = time.process_time() - own
    after_workers = {pid: servers.cpu_seconds(pid) for pid in workers}
    after_backends = {pid: servers.cpu_seconds(pid) for pid in servers.backend_pids(db)}
    n = sum(done)
    errors = sum(len(s.timings.errors) for s in sessions)

    def per(cpu: float) -> float:
        return round(cpu * 1000 / n, 2)

    return {
        "clients": clients, "completions": n, "errors": errors, "completions_per_s": round(n / elapsed, 2),
        "workers_cpu_ms_per_completion": per(sum(after_workers[p] - before.get(p, 0.0) for p in workers)),
        "postgres_cpu_ms_per_completion": per(sum(v - before.get(p, 0.0) for p, v in after_backends.items())),
        "client_cpu_ms_per_completion": per(own),
        "load_average": os.getloadavg()[0],
    }


def measured_run(clients: int, each: int, app: str = "wsgi:app", **env: str) -> dict[str, Any]:
    """:func:`measure` on a fresh PostgreSQL database (dropped afterwards) with the reference
    workload deployed, served by gunicorn running ``app`` (``env`` added to its environment),
    after one instance has warmed the workers up."""
    db = servers.Db("postgres")
    try:
        reference.deploy_into(db.url)
        proc, base = servers.gunicorn(db, app=app, **env)
        try:
            reference.Client(base).run_instance()  # the workers' imports and parsed spec
            return measure(base, db, servers.worker_pids(proc.pid), clients, each)
        finally:
            proc.stop()
    finally:
        db.drop()


def main() -> int:
    clients = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    each = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    print(json.dumps(measured_run(clients, each), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
