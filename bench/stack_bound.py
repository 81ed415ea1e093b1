"""The stack's bound: the least a completion of the reference workload costs on the fixed stack
(Flask on gunicorn, SQLAlchemy Core on psycopg, PostgreSQL, SpiffWorkflow with the app's codec),
measured exactly as the app is — so "how far can the app still go" has a measured answer.

    .venv/bin/python -m bench.stack_bound [rounds] [instances per client]

``app`` below is a WSGI app of a page that does, for the reference diagram (bench/reference.py),
only what a completion cannot do without, in one transaction:

- the bearer token's user, their departments and roles: one read (the app's own tables);
- the task and its instance, the instance locked (``FOR UPDATE``): one read;
- the lane's department among the user's, a one-field check of the submitted data;
- the workflow loaded (the app's codec, the parsed spec kept per worker), the task completed and
  the engine run on, the state dumped (the app's codec);
- the instance's state saved, the task closed, the next one opened, one audit row: four writes;
- the commit; the answer carries the instance's open tasks, as the app's does.

Six statements, a BEGIN and a COMMIT, no ORM (``BENCH_STACK_BOUND=one-write``: the four writes as
one statement of data-modifying CTEs, three statements in all). Left out, because the bound is the stack's and not
a smaller app's: the notifications and their outbox rows, the case projection, lateness, timers,
the audit hash chain, form definitions and their versions, four-eyes, delegation, drafts, the
rate limiter, the language, every request hook. Its tables (``bound_*``) sit beside the app's in
the same fresh database (made by the first worker); users, passwords and tokens are the app's.

``main`` runs both variants beside the app, interleaved, each on its own gunicorn (the README's 4
workers × 2 threads), with bench/cpu_per_completion.py's clients and CPU accounting; it prints
JSON: the completions per second and the CPU per completion of each, per round, and the engine
floor of the same run (bench/reference.py), to read the machine's speed against the issue's.
The benchmark's reference phase runs the six-statement variant after the app, on the same
database (``reference_share_of_stack_bound``). Figures: docs/benchmarks.md, "fifth round".
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import secrets
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from flask import Flask, Response, g, request
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.data.db import make_engine  # noqa: E402
from app.engine import codec  # noqa: E402
from app.engine.parser import build_specs, parse_sources  # noqa: E402
from app.engine.runtime import WorkflowRuntime  # noqa: E402
from app.services.accounts import verify_password  # noqa: E402
from bench.reference import KEY, diagram  # noqa: E402

metadata = MetaData()
Table("bound_instance", metadata,
      Column("id", Integer, primary_key=True),
      Column("state", Text, nullable=False),
      Column("version", Integer, nullable=False),
      Column("updated_at", DateTime(), nullable=False))
Table("bound_task", metadata,
      Column("id", String(36), primary_key=True),
      Column("instance_id", Integer, nullable=False, index=True),
      Column("name", String(200), nullable=False),
      Column("lane", String(100)),
      Column("state", String(20), nullable=False),
      Column("created_at", DateTime(), nullable=False),
      Column("completed_at", DateTime()),
      Column("completed_by", Integer),
      Column("data", Text))
Table("bound_audit", metadata,
      Column("id", Integer, primary_key=True),
      Column("at", DateTime(), nullable=False),
      Column("actor_id", Integer, nullable=False),
      Column("action", String(40), nullable=False),
      Column("instance_id", Integer, nullable=False),
      Column("task_id", String(36)),
      Column("detail", Text, nullable=False))

TOKEN_USER = text("""
SELECT u.id, u.active, t.expires_at,
       ARRAY(SELECT d.code FROM membership m JOIN department d ON d.id = m.department_id
             WHERE m.user_id = u.id) AS departments,
       ARRAY(SELECT r.role FROM user_role r WHERE r.user_id = u.id) AS roles
FROM api_token t JOIN user_account u ON u.id = t.user_id WHERE t.token_hash = :token_hash""")
TASK_LOCKED = text("""
SELECT t.state, t.lane, i.id, i.state, i.version FROM bound_task t JOIN bound_instance i ON i.id = t.instance_id
WHERE t.id = :task_id FOR UPDATE OF i""")
INSERT_INSTANCE = text("INSERT INTO bound_instance (state, version, updated_at) VALUES (:state, 1, :now) RETURNING id")
SAVE_INSTANCE = text("UPDATE bound_instance SET state = :state, version = version + 1, updated_at = :now "
                     "WHERE id = :id AND version = :version")
CLOSE_TASK = text("UPDATE bound_task SET state = 'completed', completed_at = :now, completed_by = :user_id, "
                  "data = :data WHERE id = :task_id")
OPEN_TASK = text("INSERT INTO bound_task (id, instance_id, name, lane, state, created_at) "
                 "VALUES (:id, :instance_id, :name, :lane, 'open', :now)")
#: the four writes of a completion in one statement (``BENCH_STACK_BOUND=one-write``)
WRITE_ALL = text("""
WITH saved AS (UPDATE bound_instance SET state = :state, version = version + 1, updated_at = :now
               WHERE id = :id AND version = :version RETURNING id),
closed AS (UPDATE bound_task SET state = 'completed', completed_at = :now, completed_by = :user_id, data = :data
           WHERE id = :task_id AND EXISTS (SELECT 1 FROM saved) RETURNING id),
opened AS (INSERT INTO bound_task (id, instance_id, name, lane, state, created_at)
           SELECT x.id, :id, x.name, x.lane, 'open', :now
           FROM unnest(CAST(:ids AS text[]), CAST(:names AS text[]), CAST(:lanes AS text[])) AS x(id, name, lane)
           WHERE EXISTS (SELECT 1 FROM saved) RETURNING id)
INSERT INTO bound_audit (at, actor_id, action, instance_id, task_id, detail)
SELECT :now, :user_id, 'task_completed', :id, :task_id, :data FROM saved RETURNING id""")
AUDIT = text("INSERT INTO bound_audit (at, actor_id, action, instance_id, task_id, detail) "
             "VALUES (:now, :actor_id, :action, :instance_id, :task_id, :detail)")


def _now() -> datetime:
    """UTC without a zone, as the app stores instants (app/data/db.py, UTCDateTime)."""
    return datetime.now(UTC).replace(tzinfo=None)


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _answer(status: int, body: Any) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status=status, mimetype="application/json")


@functools.cache
def _spec() -> tuple[Any, dict[str, Any]]:
    return build_specs(parse_sources({f"{KEY}.bpmn": diagram()}), KEY)


def _script_engine() -> Any:
    """The app's sandboxed script engine, new per operation as the app makes it."""
    return WorkflowRuntime().script_engine()


def _ready_user_tasks(workflow: Any) -> list[Any]:
    return workflow.get_tasks(state=TaskState.READY, manual=True)


def _new_tasks(workflow: Any, known: set[str]) -> list[dict[str, str]]:
    """The ready user tasks not in ``known`` (ids): id, name and lane of each."""
    return [{"id": str(task.id), "name": task.task_spec.bpmn_name or task.task_spec.name, "lane": task.task_spec.lane}
            for task in _ready_user_tasks(workflow) if str(task.id) not in known]


def _open(conn: Any, workflow: Any, instance_id: int, now: datetime, known: set[str]) -> list[dict[str, str]]:
    """Insert the rows of the ready user tasks not in ``known``; their ids and names."""
    new = _new_tasks(workflow, known)
    if new:
        conn.execute(OPEN_TASK, [{**task, "instance_id": instance_id, "now": now} for task in new])
    return [{"id": task["id"], "name": task["name"]} for task in new]


class Bound:
    """The bound's requests (see the module's docstring), on the database at ``url``; ``one_write``:
    a completion's four writes as one statement (three statements in all instead of six)."""

    def __init__(self, url: str, one_write: bool = False) -> None:
        self.engine = make_engine(url)
        self.one_write = one_write
        with self.engine.begin() as conn:  # the tables, made once by whichever worker comes first
            conn.execute(text("SELECT pg_advisory_xact_lock(16016)"))
            metadata.create_all(conn)
        _spec()  # parsed, and everything the requests use imported, before the first request
        _script_engine()

    def conn(self) -> Any:
        """The request's connection, in a transaction (rolled back at teardown unless committed)."""
        if "conn" not in g:
            g.conn = self.engine.connect()
            g.conn.begin()
        return g.conn

    def user(self) -> tuple[int, list[str], list[str]]:
        """The bearer token's user: id, department codes, roles."""
        scheme, _sep, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Refused(401, "Authentication required")
        token_hash = hashlib.sha256(token.strip().encode()).hexdigest()
        row = self.conn().execute(TOKEN_USER, {"token_hash": token_hash}).first()
        if row is None or not row[1] or row[2] <= _now():
            raise Refused(401, "The token is invalid or has expired")
        return row[0], row[3], row[4]

    def issue_token(self) -> Response:
        body = request.get_json()
        with self.engine.begin() as c:
            row = c.execute(text("SELECT id, password_hash FROM user_account WHERE username = :u"),
                            {"u": body["username"]}).first()
            if row is None or not verify_password(row[1], body["password"]):
                raise Refused(401, "Wrong username or password")
            token = secrets.token_urlsafe(32)
            now = _now()
            c.execute(text("INSERT INTO api_token (token_hash, user_id, created_at, expires_at) "
                           "VALUES (:h, :u, :now, :exp)"),
                      {"h": hashlib.sha256(token.encode()).hexdigest(), "u": row[0], "now": now,
                       "exp": now + timedelta(hours=12)})
        return _answer(200, {"token": token})

    def start(self) -> Response:
        user_id, _departments, roles = self.user()
        if "admin" not in roles:
            raise Refused(403, "Only an administrator may start this process")
        spec, subprocess_specs = _spec()
        workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=_script_engine())
        workflow.do_engine_steps()
        now = _now()
        c = self.conn()
        instance_id = c.execute(INSERT_INSTANCE, {"state": codec.dumps(workflow), "now": now}).scalar_one()
        opened = _open(c, workflow, instance_id, now, set())
        c.execute(AUDIT, {"now": now, "actor_id": user_id, "action": "instance_started",
                          "instance_id": instance_id, "task_id": None, "detail": "{}"})
        c.commit()
        return _answer(201, {"instance_id": instance_id, "open_tasks": opened})

    def complete(self, task_id: str) -> Response:
        user_id, departments, _roles = self.user()
        data = (request.get_json(silent=True) or {}).get("data")
        note = data.get("note", "") if isinstance(data, dict) else None
        if not isinstance(note, str) or len(note) > 200:
            raise Refused(422, "The data is not valid")
        c = self.conn()
        row = c.execute(TASK_LOCKED, {"task_id": task_id}).first()
        if row is None:
            raise Refused(404, "Task not found")
        task_state, lane, instance_id, state, version = row
        if lane not in departments:
            raise Refused(403, "You may not complete this task")
        if task_state != "open":
            raise Refused(409, "This task is no longer open")
        spec, subprocess_specs = _spec()
        workflow = codec.loads(state, spec, subprocess_specs, _script_engine())
        before = {str(task.id) for task in _ready_user_tasks(workflow)}
        task = workflow.get_task_from_id(UUID(task_id))
        task.set_data(**data)
        task.run()
        workflow.do_engine_steps()
        values = {"state": codec.dumps(workflow), "now": _now(), "id": instance_id, "version": version,
                  "user_id": user_id, "data": json.dumps(data), "task_id": task_id}
        opened = self._write_completion(c, workflow, values, before)
        c.commit()
        return _answer(200, {"id": task_id, "state": "completed", "instance_open_tasks": opened})

    def _write_completion(self, c: Any, workflow: Any, values: dict[str, Any],
                          before: set[str]) -> list[dict[str, str]]:
        """Save the state, close the task, open the next, audit; the tasks opened."""
        if not self.one_write:
            if c.execute(SAVE_INSTANCE, values).rowcount != 1:
                raise Refused(409, "The process was changed by someone else")
            c.execute(CLOSE_TASK, values)
            opened = _open(c, workflow, values["id"], values["now"], before)
            c.execute(AUDIT, {**values, "actor_id": values["user_id"], "action": "task_completed",
                              "instance_id": values["id"], "detail": values["data"]})
            return opened
        new = _new_tasks(workflow, before)
        saved = c.execute(WRITE_ALL, {**values, "ids": [task["id"] for task in new],
                                      "names": [task["name"] for task in new],
                                      "lanes": [task["lane"] for task in new]})
        if saved.first() is None:
            raise Refused(409, "The process was changed by someone else")
        return [{"id": task["id"], "name": task["name"]} for task in new]


def create_bound_app(url: str, one_write: bool = False) -> Flask:
    """The bound as a Flask app (see :class:`Bound`)."""
    bound = Bound(url, one_write)
    app = Flask(__name__)
    app.extensions["bound"] = bound

    @app.teardown_request
    def _close(_exc: BaseException | None) -> None:
        connection = g.pop("conn", None)
        if connection is not None:
            connection.close()  # rolls back what was not committed

    @app.errorhandler(Refused)
    def _refused(exc: Refused) -> Response:
        return _answer(exc.status, {"error": str(exc)})

    app.add_url_rule("/auth/login", "serving", lambda: _answer(200, {}))  # what bench/servers.py waits for
    app.add_url_rule("/api/v1/auth/token", "token", bound.issue_token, methods=["POST"])
    app.add_url_rule(f"/api/v1/process-definitions/{KEY}/start", "start", bound.start, methods=["POST"])
    app.add_url_rule("/api/v1/tasks/<task_id>/complete", "complete", bound.complete, methods=["POST"])
    return app


# gunicorn's "bench.stack_bound:app" (the database from DATABASE_URL, as the app's own)
_MODE = os.environ.get("BENCH_STACK_BOUND")
app = create_bound_app(os.environ["DATABASE_URL"], one_write=_MODE == "one-write") if _MODE else None


def main() -> int:
    from bench import reference
    from bench.cpu_per_completion import measured_run

    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    each = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    floor = reference.engine_floor(20)["ms_per_task"]
    modes = {"bound": "six-statements", "bound_one_write": "one-write", "app": None}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in modes}
    for _round in range(rounds):
        for name, mode in modes.items():
            runs[name].append(measured_run(8, each, "bench.stack_bound:app", BENCH_STACK_BOUND=mode) if mode
                              else measured_run(8, each))
    print(json.dumps({"engine_floor_ms_per_task": floor, **runs}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
