"""Where a reference completion's CPU goes: the app's by step, PostgreSQL's by statement.

    .venv/bin/python -m bench.completion_budget [instances]

A fresh PostgreSQL database (dropped at the end), the production configuration, one thread driving
the app through Flask's test client as ``bench.reference``'s clients do over HTTP (admin starts,
Quality completes each task with the answer's next task), after a warm-up. Prints JSON:

- ``app_ms``: the thread's CPU per completion, split by :data:`STEPS` — each step's *own* time
  (what its wrapped callees took is theirs), the rest under ``other`` (Flask and werkzeug,
  the view functions, the engine's glue, everything not named). A wrapper costs ~1 µs a call,
  a few per cent in all: compare figures of the same tool, not with ``cpu_per_completion``.
- ``postgres_ms``: the database backend's CPU per completion by statement (its first 100
  characters), from ``/proc/<backend>/schedstat`` (nanoseconds on the CPU) read before and
  after each statement, and ``postgres_ms_total`` from all the database's backends over the
  run: the difference is what no statement accounts for — BEGIN, COMMIT, the pool's ping.

``bench.stack_bound`` measures the same workload without the app's features; docs/benchmarks.md
("The stack's bound") reads the two side by side.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: the steps timed, as (module, attribute path): the database touches of a start and a completion,
#: and the engine's and the form's own work
STEPS = (
    ("app.services.accounts", "user_for_token"),
    ("app.services.tasks", "read_for_completion"),
    ("app.engine.runtime", "WorkflowRuntime._lock"),
    ("app.engine.runtime", "WorkflowRuntime.load"),
    ("app.engine.runtime", "WorkflowRuntime._advance"),
    ("app.engine.codec", "dumps"),
    ("app.engine.projection", "TaskProjector.sync"),
    ("app.services.notifications", "notify_opened"),
    ("app.services.notifications", "DepartmentNotices.insert"),
    ("app.engine.audit", "record"),
    ("app.engine.audit_chain", "seal"),
    ("app.formkit.build", "validate"),
    ("sqlalchemy.orm.session", "Session.flush"),
    ("sqlalchemy.orm.session", "Session.commit"),
    ("flask.app", "Flask.preprocess_request"),
    ("flask.app", "Flask.finalize_request"),
    ("flask.json", "jsonify"),
)


class Budget:
    """Own CPU time per wrapped callable (the thread's), nested wrappers subtracted."""

    def __init__(self) -> None:
        self.own: Counter[str] = Counter()
        self._inner: list[float] = []

    def wrap(self, label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.thread_time()
            self._inner.append(0.0)
            try:
                return fn(*args, **kwargs)
            finally:
                spent = time.thread_time() - start
                self.own[label] += spent - self._inner.pop()
                if self._inner:
                    self._inner[-1] += spent

        return timed

    def install(self) -> None:
        """Wrap every step where it is defined and where a module imported it by name."""
        for module_name, path in STEPS:
            replace_step(module_name, path, functools.partial(self.wrap, path))


def replace_step(module_name: str, path: str, wrap: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    """Replace the callable at ``path`` (``name`` or ``Class.method``) of ``module_name`` by
    ``wrap(original)``: where it is defined and, for a module-level function, in every ``app``
    module that imported it by name (so call sites that hold it directly reach the wrapper too)."""
    owner: Any = importlib.import_module(module_name)
    *parents, name = path.split(".")
    for parent in parents:
        owner = getattr(owner, parent)
    original = getattr(owner, name)
    wrapped = wrap(original)
    setattr(owner, name, wrapped)
    if not parents:
        for module in list(sys.modules.values()):
            if getattr(module, "__name__", "").startswith("app.") and getattr(module, name, None) is original:
                setattr(module, name, wrapped)


def _backend_cpu_ns(pid: int) -> int:
    with open(f"/proc/{pid}/schedstat") as stat:
        return int(stat.read().split()[0])


def _measure(instances: int) -> dict[str, Any]:
    import psycopg
    from sqlalchemy import event

    from app import create_app
    from bench.calls_per_completion import reference_driver

    budget = Budget()
    budget.install()  # before the app is built: its blueprints import some steps by name
    app = create_app()
    run_instance = reference_driver(app.test_client(), read_each=False)

    for _ in range(5):  # warm-up: parsed spec, compiled and prepared statements, connections
        run_instance()
    statements: defaultdict[str, int] = defaultdict(int)
    before: dict[str, int] = {}
    engine = app.extensions["database"].engine

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn: Any, _cursor: Any, _statement: str, _params: Any, _context: Any, _many: bool) -> None:
        before["ns"] = _backend_cpu_ns(conn.connection.dbapi_connection.info.backend_pid)

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any, _many: bool) -> None:
        spent = _backend_cpu_ns(conn.connection.dbapi_connection.info.backend_pid) - before["ns"]
        statements[" ".join(statement.split())[:100]] += spent

    url = os.environ["DATABASE_URL"].replace("+psycopg", "")

    def all_backends_ns() -> int:
        with psycopg.connect(url) as conn:
            pids = [row[0] for row in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")]
        return sum(_backend_cpu_ns(pid) for pid in pids)

    budget.own.clear()
    backends = all_backends_ns()
    start = time.thread_time()
    done = sum(run_instance() for _ in range(instances))
    total = time.thread_time() - start
    backends = all_backends_ns() - backends

    def ms(seconds: float) -> float:
        return round(1000 * seconds / done, 3)

    app_ms = {label: ms(spent) for label, spent in budget.own.most_common()}
    app_ms["other"] = ms(total - sum(budget.own.values()))
    postgres = {text: round(ns / 1e6 / done, 3) for text, ns in sorted(statements.items(), key=lambda kv: -kv[1])}
    return {"completions": done, "app_ms_total": ms(total), "app_ms": app_ms,
            "postgres_ms_total": round(backends / 1e6 / done, 3),
            "postgres_ms_statements": round(sum(postgres.values()), 3), "postgres_ms": postgres}


def main() -> None:
    args = [arg for arg in sys.argv[1:] if arg != "--in-app"]
    instances = int(args[0]) if args else 30
    if "--in-app" in sys.argv:  # the child: its configuration comes from the environment
        print(json.dumps(_measure(instances), indent=1, ensure_ascii=False))
        return
    from bench import reference, servers

    db = servers.Db("postgres")
    try:
        reference.deploy_into(db.url)
        subprocess.run([sys.executable, "-m", "bench.completion_budget", str(instances), "--in-app"],
                       env=db.env(), check=True, cwd=Path(__file__).resolve().parents[1])
    finally:
        db.drop()


if __name__ == "__main__":
    main()
