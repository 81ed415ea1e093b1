"""Concurrency torture over HTTP: app servers and timer firers in their own OS processes,
client processes doing overlapping claims, releases, completions, approvals and delegations
on a small set of shared cases; afterwards the invariants are checked on the database.

Used by tests/test_concurrency_pg.py (short) and ``make soak`` (long: ``TORTURE_SECONDS``).

The torture diagram: ``work`` (marketing, form note) → a 1-second timer → ``approve`` (quality,
an eight_d approval item deciding ``work``, form decision) → end. Every instance therefore sees
a completion race, a timer that must fire exactly once, and an approval race.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import re
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import func, select

from tests.engine import definitions, flow, process, props

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
PROCESS = "torture"


def torture_diagram() -> str:
    work = ('<bpmn:userTask id="work" name="处理">' + props(formKey="note", department="marketing", nameEn="Work")
            + "</bpmn:userTask>")
    wait = ('<bpmn:intermediateCatchEvent id="wait"><bpmn:timerEventDefinition>'
            '<bpmn:timeDuration>"PT1S"</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>')
    approve = ('<bpmn:userTask id="approve" name="审核">'
               + props(formKey="decision", department="quality", approval="eight_d", submittedBy="work",
                       nameEn="Approve") + "</bpmn:userTask>")
    body = ('<bpmn:startEvent id="start" />' + work + wait + approve + '<bpmn:endEvent id="end" />'
            + flow("f1", "start", "work") + flow("f2", "work", "wait") + flow("f3", "wait", "approve")
            + flow("f4", "approve", "end"))
    return definitions(process(PROCESS, body))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(db_url: str, upload_dir: Path) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": db_url, "UPLOAD_DIR": str(upload_dir), "APP_ENV": "testing",
            "BPMN_DIR": str(FIXTURES / "bpmn"), "FORMS_DIR": str(FIXTURES / "forms"), "PYTHONPATH": str(ROOT)}


class Server:
    """The app in a subprocess on one port; ``start`` waits until it answers, ``kill`` is SIGKILL."""

    def __init__(self, db_url: str, upload_dir: Path, port: int | None = None) -> None:
        self.env = server_env(db_url, upload_dir)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> Server:
        self.proc = subprocess.Popen(  # noqa: S603 - our own module
            [sys.executable, "-m", "tests.reliability.serve", str(self.port)], cwd=ROOT, env=self.env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}")
            try:
                if requests.get(self.url + "/api/v1/health", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError("server did not answer in time")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()  # SIGKILL: no clean-up, no rollback from our side
            self.proc.wait(timeout=30)


@contextmanager
def servers(db_url: str, upload_dir: Path, count: int) -> Iterator[list[Server]]:
    started: list[Server] = []
    try:
        for _ in range(count):
            started.append(Server(db_url, upload_dir).start())
        yield started
    finally:
        for server in started:
            server.kill()


# ------------------------------------------------------------------------------ clients


def _open_tasks(database: Any, element: str) -> list[str]:
    from app.data.models import HumanTask, TaskState

    with database.session() as session:
        return list(session.scalars(select(HumanTask.id).where(
            HumanTask.element_id == element, HumanTask.state == TaskState.OPEN, HumanTask.process_key == PROCESS)))


def _token(base: str, username: str) -> dict[str, str]:
    answer = requests.post(base + "/api/v1/auth/token", json={"username": username, "password": "demo"}, timeout=30)
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def _web_session(base: str, username: str) -> tuple[requests.Session, str]:
    web = requests.Session()
    page = web.get(base + "/auth/login", timeout=30).text
    token = re.search(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    web.post(base + "/auth/login", data={"username": username, "password": "demo", "csrf_token": token},
             timeout=30, allow_redirects=False)
    return web, token


def client_loop(role: str, bases: list[str], db_url: str, seconds: float, seed: int, out: str) -> None:
    """One client process: ``role`` says what it does; every answer is written to ``out``."""
    from app.data.db import Database

    rng = random.Random(seed)
    database = Database(db_url)
    user = {"worker": "marketing", "head": "marketing_head", "api_approver": "quality",
            "web_approver": "quality_head"}[role]
    headers = {base: _token(base, user) for base in bases}
    webs = {base: _web_session(base, user) for base in bases} if role in ("head", "web_approver") else {}
    marketing_id = None
    if role == "head":
        from app.data.models import User

        with database.session() as session:
            marketing_id = session.scalar(select(User.id).where(User.username == "marketing"))
    deadline = time.monotonic() + seconds
    with open(out, "a", encoding="utf-8") as log:
        while time.monotonic() < deadline:
            element = "work" if role in ("worker", "head") else "approve"
            tasks = _open_tasks(database, element)
            if not tasks:
                time.sleep(0.05)
                continue
            task = rng.choice(tasks[:6])  # a few hot tasks: real overlap between the processes
            base = rng.choice(bases)
            op, status = _one_operation(role, rng, base, headers[base], webs.get(base), task, marketing_id)
            log.write(json.dumps({"role": role, "user": user, "op": op, "task": task, "status": status}) + "\n")
            log.flush()
    database.dispose()


def _one_operation(role: str, rng: random.Random, base: str, headers: dict[str, str],
                   web: tuple[requests.Session, str] | None, task: str, marketing_id: int | None) -> tuple[str, int]:
    api = base + "/api/v1/tasks/" + task
    if role == "worker":
        op = rng.choice(["claim", "complete", "complete", "release"])
        if op == "complete":
            body = {"data": {"note": f"done {task[:6]}"}, "submit_token": f"{task}-{rng.randrange(3)}"}
            return op, requests.post(api + "/complete", json=body, headers=headers, timeout=60).status_code
        path = "/claim" if op == "claim" else "/unclaim"
        return op, requests.post(api + path, headers=headers, timeout=60).status_code
    if role == "head":
        assert web is not None
        session, csrf = web
        op = rng.choice(["claim", "delegate", "recall", "complete"])
        if op == "complete":
            body = {"data": {"note": "head"}}
            return op, requests.post(api + "/complete", json=body, headers=headers, timeout=60).status_code
        if op == "claim":
            return op, requests.post(api + "/claim", headers=headers, timeout=60).status_code
        form = {"csrf_token": csrf, "delegate_id": str(marketing_id), "note": "please"} if op == "delegate" else \
            {"csrf_token": csrf}
        return op, session.post(f"{base}/inbox/{task}/{op}", data=form, timeout=60, allow_redirects=False).status_code
    if role == "api_approver":
        body = {"data": {"decision": "accept", "reason": "ok"}}
        return "approve_api", requests.post(api + "/complete", json=body, headers=headers, timeout=60).status_code
    assert web is not None
    session, csrf = web
    form = {"csrf_token": csrf, "decision": "accept", "reason": "ok"}
    return "approve_web", session.post(f"{base}/approvals/{task}/decide", data=form, timeout=60,
                                       allow_redirects=False).status_code


def timer_process(db_url: str, upload_dir: Path, seconds: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 - our own module
        [sys.executable, "-m", "tests.reliability.serve", "--timers", str(seconds)], cwd=ROOT,
        env=server_env(db_url, upload_dir), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)


# ------------------------------------------------------------------------------ the run


@dataclass
class Figures:
    instances: int = 0
    requests: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    processes: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"instances": self.instances, "requests": sum(self.requests.values()),
                "by_operation": dict(self.requests), "by_status": dict(self.statuses), "processes": self.processes}


def start_instances(database: Any, runtime: Any, count: int) -> list[int]:
    from app.engine.context import Actor

    ids = []
    with database.transaction() as session:
        for i in range(count):
            ids.append(runtime.start(session, PROCESS, {"n": i}, Actor.system()).id)
    return ids


def run(db_url: str, upload_dir: Path, work_dir: Path, seconds: float, instances: int,
        database: Any, runtime: Any) -> tuple[Figures, list[dict[str, Any]]]:
    """Start servers, timer firers and clients; more instances are started while they run."""
    figures = Figures()
    ids = start_instances(database, runtime, instances)
    ctx = multiprocessing.get_context("spawn")
    roles = ["worker", "head", "api_approver", "web_approver"]
    with servers(db_url, upload_dir, 2) as started:
        bases = [s.url for s in started]
        timers = [timer_process(db_url, upload_dir, seconds + 3)]
        outs = [str(work_dir / f"client-{i}.jsonl") for i in range(len(roles))]
        clients = [ctx.Process(target=client_loop, args=(role, bases, db_url, seconds, 1000 + i, outs[i]))
                   for i, role in enumerate(roles)]
        for proc in clients:
            proc.start()
        # keep feeding cases while the clients work: starts race with everything else too
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(max(0.5, seconds / 6))
            ids += start_instances(database, runtime, max(1, instances // 4))
        for proc in clients:
            proc.join(timeout=seconds + 120)
            assert proc.exitcode == 0, f"client exited with {proc.exitcode}"
        for timer in timers:
            timer.wait(timeout=120)
        figures.processes = len(started) + len(timers) + len(clients)
    answers = []
    for out in outs:
        if os.path.exists(out):
            with open(out, encoding="utf-8") as log:
                answers += [json.loads(line) for line in log]
    figures.instances = len(ids)
    figures.requests.update(a["op"] for a in answers)
    figures.statuses.update(a["status"] for a in answers)
    return figures, answers


# ------------------------------------------------------------------------------ invariants


def finish_all(database: Any, runtime: Any) -> None:
    """Fire what is due and complete whatever is open, in-process: every instance must run to its end."""
    from app.clock import clock
    from app.data.models import HumanTask, TaskState
    from app.engine.context import Actor
    from app.engine.runtime import due_instance_ids

    for _round in range(6):
        with database.session() as session:
            due = due_instance_ids(session, clock.now() + _seconds(5), limit=100_000)
        for instance_id in due:
            with database.transaction() as session:
                runtime.fire_timers(session, instance_id)
        with database.session() as session:
            open_rows = session.execute(select(HumanTask.id, HumanTask.element_id).where(
                HumanTask.state == TaskState.OPEN, HumanTask.process_key == PROCESS)).all()
        if not open_rows and not due:
            return
        for task_id, element in open_rows:
            data = {"note": "finish"} if element == "work" else {"decision": "accept", "reason": "finish"}
            with database.transaction() as session:
                runtime.complete_task(session, task_id, data, Actor(None, "finisher"))
        time.sleep(1.1)  # the 1-second timers of the works just completed


def _seconds(n: float) -> Any:
    from datetime import timedelta

    return timedelta(seconds=n)


def check_invariants(database: Any, runtime: Any, answers: list[dict[str, Any]]) -> dict[str, int]:
    """Raise AssertionError naming the first broken invariant; return what was checked."""
    from app.data.models import AuditEvent, HumanTask, InstanceStatus, ProcessInstance, TaskState
    from app.engine import audit_chain

    server_errors = [a for a in answers if a["status"] >= 500]
    assert not server_errors, f"{len(server_errors)} server errors, e.g. {server_errors[:3]}"
    with database.session() as session:
        completed_events = Counter(session.scalars(
            select(AuditEvent.task_id).where(AuditEvent.action == "task_completed")))
        assert all(n == 1 for n in completed_events.values()), \
            f"tasks completed more than once: {[t for t, n in completed_events.items() if n > 1][:5]}"
        rows = {r.id: r for r in session.scalars(select(HumanTask).where(HumanTask.process_key == PROCESS))}
        done = {tid for tid, r in rows.items() if r.state == TaskState.COMPLETED}
        assert done == {t for t in completed_events if t in rows}, "completed tasks and their audit events differ"
        for a in answers:  # every 2xx answer is in the database
            if a["op"] in ("complete", "approve_api") and a["status"] == 200:
                assert a["task"] in done, f"answered 200 but not completed: {a}"
            if a["op"] == "claim" and a["status"] == 200:
                assert session.scalar(select(func.count()).select_from(AuditEvent).where(
                    AuditEvent.task_id == a["task"], AuditEvent.action == "task_claimed")) >= 1, a
        instances = list(session.scalars(select(ProcessInstance).where(ProcessInstance.process_key == PROCESS)))
        started = Counter(session.scalars(select(AuditEvent.instance_id).where(AuditEvent.action == "process_started")))
        fired = Counter(session.scalars(select(AuditEvent.instance_id).where(AuditEvent.action == "timer_fired")))
        for instance in instances:
            assert started[instance.id] == 1, f"instance {instance.id}: {started[instance.id]} start events"
            assert instance.status == InstanceStatus.COMPLETED, (instance.id, instance.status,
                                                                 instance.incident_message)
            assert fired[instance.id] == 1, f"instance {instance.id}: its timer fired {fired[instance.id]} times"
            runtime.load(session, instance)  # every instance loads
        with database.engine.connect() as conn:
            verification = audit_chain.verify(conn)
        assert verification.ok, verification.finding
    return {"instances": len(instances), "tasks": len(rows), "completions": len(done),
            "audit_events": verification.checked, "timer_firings": sum(fired.values())}
