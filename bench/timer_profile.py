"""Fire timers in-process on a fresh PostgreSQL (or SQLite) database and report CPU time, wall
time and SQL statements per fire for each way of firing: one instance at a time (``fire_one``)
and the timer loop's rounds (``TimerLoop`` started on the due backlog) with 1 and 4 worker
threads. ``--sql`` prints the statements of one fire, ``--profile`` a pyinstrument profile of the
last path.

    .venv/bin/python bench/timer_profile.py [--backend postgres|sqlite] [--count 300] [--sql] [--profile]

The instances are the timer bench's diagram (start → timer → end, bench/timers.py); their due
time is passed by moving the application clock, so nothing waits. CPU time is the whole
process's (every thread).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


class Firing:
    """The app on one database, with a statement counter."""

    def __init__(self, url: str) -> None:
        from sqlalchemy import event

        from app import create_app
        from app.engine.definitions.deploy import deploy
        from app.services.setup import known_department_names
        from bench.timers import TIMER_BPMN
        from config import TestConfig

        class Cfg(TestConfig):
            DATABASE_URL = url
            ENGINE_LOG_LEVEL = "WARNING"  # as in production

        self.app = create_app(Cfg)
        self.database, self.runtime = self.app.extensions["database"], self.app.extensions["runtime"]
        with self.database.transaction() as session:
            deploy(session, {"bench_timer.bpmn": TIMER_BPMN}, {}, known_departments=known_department_names(session))
        self.statements = 0
        self.show = False

        @event.listens_for(self.database.engine, "before_cursor_execute")
        def _count(_conn, _cursor, statement, *_args) -> None:  # noqa: ANN001, ANN002
            self.statements += 1
            if self.show:
                print("   ", " ".join(statement.split())[:150])

    def make_due(self, n: int) -> None:
        """``n`` instances whose timer is due (the clock moved past it)."""
        from app.clock import clock

        for _ in range(n):
            with self.database.transaction() as session:
                self.runtime.start(session, "bench_timer", {"delay": "PT1H"})
        clock.advance(timedelta(hours=2))

    def fired_so_far(self) -> int:
        from sqlalchemy import func, select

        from app.data.models import AuditEvent

        with self.database.session() as session:
            return session.scalar(select(func.count()).select_from(AuditEvent)
                                  .where(AuditEvent.action == "timer_fired")) or 0

    def measure(self, label: str, fire: Callable[[], Any], count: int) -> None:
        self.make_due(count)
        before = self.fired_so_far()
        s0, c0, w0 = self.statements, time.process_time(), time.perf_counter()
        fire()
        cpu, wall, n = time.process_time() - c0, time.perf_counter() - w0, self.statements - s0
        fired = max(self.fired_so_far() - before, 1)
        n -= 1  # the count above
        print(f"{label}: {fired} fired; CPU {cpu * 1000 / fired:.2f} ms/fire, wall {wall * 1000 / fired:.2f} "
              f"ms/fire, {n / fired:.2f} statements/fire (load {os.getloadavg()[0]:.2f})")


def paths(f: Firing) -> list[tuple[str, Callable[[], Any]]]:
    from app.clock import clock
    from app.engine.runtime import due_instance_ids
    from app.scheduler import timers

    def one_by_one() -> None:
        with f.database.session() as session:
            due = due_instance_ids(session, clock.now(), 100_000)
        for instance_id in due:
            timers.fire_one(f.database, f.runtime, instance_id)

    found: list[tuple[str, Callable[[], Any]]] = [("fire_one per instance", one_by_one)]

    def left() -> int:  # running instances due (a raw connection: not among the counted statements)
        conn = f.database.engine.raw_connection()
        try:
            cursor = conn.cursor()
            cursor.execute("SELECT count(*) FROM process_instance WHERE status = 'running' AND next_due_at < "
                           + ("%s" if f.database.dialect == "postgresql" else "?"), (clock.now(),))
            return int(cursor.fetchone()[0])
        finally:
            conn.close()

    for workers in (1, 4):
        loop = timers.TimerLoop(f.database, f.runtime, f.app, workers=workers)

        def run_loop(loop: Any = loop) -> None:
            loop.start()
            while left() or loop.in_flight():
                time.sleep(0.02)
            loop.stop()

        found.append((f"TimerLoop, {workers} worker(s)", run_loop))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="postgres", choices=["postgres", "sqlite"])
    parser.add_argument("--count", type=int, default=300, help="timers per path")
    parser.add_argument("--profile", action="store_true", help="pyinstrument profile of the last path")
    parser.add_argument("--sql", action="store_true", help="print the statements of one fire")
    args = parser.parse_args()

    from app.clock import clock
    from app.engine import audit
    from app.scheduler import timers
    from bench import servers

    db = servers.Db(args.backend)
    try:
        f = Firing(db.url)
        with f.app.app_context(), audit.origin(timers.SCHEDULER):
            ways = paths(f)
            f.make_due(20)  # warm-up: caches, connections
            ways[0][1]()
            if args.sql:
                f.make_due(1)
                print("statements of firing one due instance (the look-up included):")
                f.show = True
                ways[-1][1]()
                f.show = False
            for label, fire in ways[:-1]:
                f.measure(label, fire, args.count)
            label, fire = ways[-1]
            if args.profile:
                from pyinstrument import Profiler

                with Profiler() as profiler:
                    f.measure(label + " (profiled)", fire, args.count)
                print(profiler.output_text(unicode=True, color=False))
            else:
                f.measure(label, fire, args.count)
        f.database.dispose()
    finally:
        clock.reset()
        db.drop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
