"""What sending one queued e-mail costs the scheduler: CPU per e-mail, and where it goes.

    .venv/bin/python -m bench.outbox_cost [instances] [--profile]

A fresh PostgreSQL database (dropped at the end), the production configuration, the reference
workload run in-process (``instances`` instances; each completion queues the staff e-mails of its
next task), then the outbox drained into ``bench.smtp_sink`` (its own process) as the
scheduler's ``outbox`` job does. Prints JSON: e-mails sent, the sending thread's CPU and wall time
per e-mail, e-mails a second; with ``--profile``, the top of a cProfile of the drain by own time.
"""

from __future__ import annotations

import cProfile
import io
import json
import pstats
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _measure(instances: int, profile: bool) -> dict[str, Any]:
    from app import create_app
    from app.services import notifications
    from bench.calls_per_completion import reference_driver

    app = create_app()
    run_instance = reference_driver(app.test_client(), read_each=False)
    for _ in range(instances):
        run_instance()
    database = app.extensions["database"]
    notifications.drain_outbox(database, app.config, 20)  # warm-up: templates, SMTP, statements
    profiler = cProfile.Profile(time.thread_time) if profile else None  # CPU, not waiting
    cpu, wall = time.thread_time(), time.perf_counter()
    if profiler:
        profiler.enable()
    sent, failed = notifications.drain_backlog(database, app.config, budget_s=600)
    if profiler:
        profiler.disable()
    cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
    out: dict[str, Any] = {"emails_sent": sent, "failed": failed,
                           "cpu_ms_per_email": round(1000 * cpu / max(sent, 1), 3),
                           "wall_ms_per_email": round(1000 * wall / max(sent, 1), 3),
                           "emails_per_s": round(sent / wall, 1) if wall else None}
    if profiler:
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(30)
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(45)
        out["profile"] = text.getvalue().splitlines()
    return out


def main() -> None:
    args = [arg for arg in sys.argv[1:] if not arg.startswith("--")]
    instances = int(args[0]) if args else 100
    profile = "--profile" in sys.argv
    if "--in-app" in sys.argv:  # the child: its configuration comes from the environment
        result = _measure(instances, profile)
        lines = result.pop("profile", None)
        print(json.dumps(result, indent=1))
        if lines:
            print("\n".join(lines))
        return
    from bench import reference, servers
    from bench.run import SmtpSink

    db = servers.Db("postgres")
    smtp = SmtpSink()
    try:
        reference.deploy_into(db.url)
        env = db.env() | {"MAIL_PORT": str(smtp.port)}
        subprocess.run([sys.executable, "-m", "bench.outbox_cost", str(instances), "--in-app",
                        *(["--profile"] if profile else [])],
                       env=env, check=True, cwd=Path(__file__).resolve().parents[1])
    finally:
        smtp.stop()
        db.drop()


if __name__ == "__main__":
    main()
