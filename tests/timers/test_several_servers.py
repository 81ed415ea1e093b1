"""Several servers, one PostgreSQL database: two gunicorn app servers and two scheduler
processes. Cases are driven through both servers over HTTP (a token and a session cookie
obtained on one server work on the other), the active scheduler is killed with SIGKILL, and
the standby takes the lease: every due timer still fires exactly once, seconds after it fell
due."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from app.data.models import AuditEvent, HumanTask, InstanceStatus, ProcessInstance
from app.engine.definitions.deploy import deploy
from app.services.setup import known_department_names
from tests.conftest import BACKEND
from tests.timers.conftest import NS, fired_count, free_port, instance_status, wait_for

pytestmark = pytest.mark.skipif(
    BACKEND != "postgres",
    reason="several servers need PostgreSQL (advisory-lock lease, row locks); SQLite is one server only",
)

ROOT = Path(__file__).resolve().parents[2]
WAIT = 4  # seconds from the completed task to the timer

#: admins start it over the API; Marketing enters a note; a timer WAIT seconds later ends it
SERVERS_BPMN = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions {NS} xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
  id="Defs_servers" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="servers_timer" name="Servers timer" isExecutable="true">
    <bpmn:laneSet id="lanes"><bpmn:lane id="Lane_marketing" name="marketing">
      <bpmn:flowNodeRef>start</bpmn:flowNodeRef><bpmn:flowNodeRef>enter</bpmn:flowNodeRef>
      <bpmn:flowNodeRef>wait</bpmn:flowNodeRef><bpmn:flowNodeRef>end</bpmn:flowNodeRef>
    </bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:extensionElements><spiffworkflow:properties>
      <spiffworkflow:property name="manualStart" value="admin" />
      <spiffworkflow:property name="startForm" value="note" />
    </spiffworkflow:properties></bpmn:extensionElements></bpmn:startEvent>
    <bpmn:userTask id="enter" name="登记"><bpmn:extensionElements><spiffworkflow:properties>
      <spiffworkflow:property name="formKey" value="note" />
    </spiffworkflow:properties></bpmn:extensionElements></bpmn:userTask>
    <bpmn:intermediateCatchEvent id="wait" name="wait">
      <bpmn:timerEventDefinition id="wait_def">
        <bpmn:timeDuration xsi:type="bpmn:tFormalExpression">"PT{WAIT}S"</bpmn:timeDuration>
      </bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:endEvent id="end" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="enter" />
    <bpmn:sequenceFlow id="f2" sourceRef="enter" targetRef="wait" />
    <bpmn:sequenceFlow id="f3" sourceRef="wait" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>"""

SCHEDULER_SCRIPT = """
import logging, sys
logging.basicConfig(level=logging.WARNING, filename=sys.argv[2], format="%(name)s %(message)s")
from config import TestConfig
class Cfg(TestConfig):
    DATABASE_URL = sys.argv[1]
from app import create_app
app = create_app(Cfg)
logging.getLogger("app.scheduler").setLevel(logging.INFO)
from app.scheduler import run_forever
run_forever(app)
"""


def _env(database_url: str, uploads: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "APP_ENV": "production", "DATABASE_URL": database_url,
            "SECRET_KEY": "one-secret-for-every-server", "SESSION_COOKIE_SECURE": "false",
            "UPLOAD_DIR": str(uploads), "SCHEDULER_ENABLED": "false", "AUDIT_HEAD_LOG": str(uploads / "heads.log")}


def _start_server(port: int, env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", "1", "-b", f"127.0.0.1:{port}", "--timeout", "60", "wsgi:app"],
        cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


def _up(base: str) -> bool:
    try:
        return requests.get(f"{base}/auth/login", timeout=5).status_code == 200
    except requests.RequestException:  # not listening yet, or still importing
        return False


def _login(session: requests.Session, base: str, username: str) -> None:
    page = session.get(f"{base}/auth/login", timeout=10).text
    token = re.search(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"', page).group(1)
    response = session.post(f"{base}/auth/login", data={"username": username, "password": "demo", "csrf_token": token},
                            allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text[:500]


def _active(logs: list[Path]) -> list[int]:
    return [i for i, log in enumerate(logs) if log.exists() and "lease taken" in log.read_text()]


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_two_servers_two_schedulers_failover_fires_each_timer_once(timer_app, tmp_path):
    database = timer_app.extensions["database"]
    with database.transaction() as session:
        deploy(session, {"servers_timer.bpmn": SERVERS_BPMN}, {}, known_departments=known_department_names(session))
    env = _env(database.url, tmp_path)
    ports = [free_port(), free_port()]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    scheduler_logs = [tmp_path / "scheduler-0.log", tmp_path / "scheduler-1.log"]
    procs = [_start_server(port, env, tmp_path / f"server-{i}.log") for i, port in enumerate(ports)]
    schedulers = [subprocess.Popen([sys.executable, "-c", SCHEDULER_SCRIPT, database.url, str(log)], cwd=ROOT,
                                   env={**os.environ, "PYTHONPATH": str(ROOT)}) for log in scheduler_logs]
    try:
        assert wait_for(lambda: all(_up(base) for base in bases), timeout=120), "the app servers did not start"
        assert wait_for(lambda: _active(scheduler_logs), timeout=120), "no scheduler took the lease"
        time.sleep(1.5)  # the standby has polled and been refused by now
        active = _active(scheduler_logs)
        assert len(active) == 1, f"exactly one scheduler is active: {active}"

        # an API token from server 0 and a web session from server 1, each used on both servers
        token = requests.post(f"{bases[0]}/api/v1/auth/token", json={"username": "admin", "password": "demo"},
                              timeout=10).json()["token"]
        web = requests.Session()
        _login(web, bases[1], "marketing")

        due: dict[int, object] = {}

        def drive(n: int) -> int:
            api, form = bases[n % 2], bases[(n + 1) % 2]
            started = requests.post(f"{api}/api/v1/process-definitions/servers_timer/start",
                                    json={"data": {"note": f"case {n}"}},
                                    headers={"Authorization": f"Bearer {token}"}, timeout=10)
            assert started.status_code == 201, started.text
            instance_id = started.json()["instance_id"]
            with database.session() as session:
                task_id = session.scalar(select(HumanTask.id).where(HumanTask.instance_id == instance_id))
            page = web.get(f"{form}/tasks/{task_id}", timeout=10)
            assert page.status_code == 200 and "/auth/login" not in page.url, "the session cookie works on both"
            fields = {"note": f"entered {n}"}
            for name in ("csrf_token", "submit_token"):
                fields[name] = re.search(rf'name="{name}"(?: type="hidden")? value="([^"]+)"', page.text).group(1)
            done = web.post(f"{api}/tasks/{task_id}", data=fields, allow_redirects=False, timeout=10)
            assert done.status_code == 302, done.text[:1000]
            with database.session() as session:
                due[instance_id] = session.get(ProcessInstance, instance_id).next_due_at
            assert due[instance_id] is not None
            return instance_id

        first = [drive(n) for n in range(3)]
        os.kill(schedulers[active[0]].pid, signal.SIGKILL)  # their timers are due in a few seconds
        schedulers[active[0]].wait()
        later = [drive(n) for n in range(3, 6)]
        ids = first + later
        assert wait_for(lambda: all(instance_status(database, i) == InstanceStatus.COMPLETED for i in ids),
                        timeout=WAIT + 15), "timers did not fire after the failover"
        standby = 1 - active[0]
        assert "lease taken" in scheduler_logs[standby].read_text()
        time.sleep(1.5)  # a few more safety-net rounds of the new scheduler: nothing fires again
        with database.session() as session:
            assert [fired_count(session, i) for i in ids] == [1] * len(ids)
            fired = dict(session.execute(select(AuditEvent.instance_id, AuditEvent.at).where(
                AuditEvent.instance_id.in_(ids), AuditEvent.action == "timer_fired")).all())
        lags = {i: (fired[i] - due[i]).total_seconds() for i in ids}
        # 1 s lease poll + the new scheduler's start: seconds, not minutes (generous for a busy machine)
        print("timer lag after the failover (s):", sorted(round(lag, 2) for lag in lags.values()))
        assert all(0 <= lag < 8 for lag in lags.values()), lags
    finally:
        for proc in procs + schedulers:
            _stop(proc)
