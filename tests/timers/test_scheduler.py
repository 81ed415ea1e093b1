"""Exact timers: the job written with the instance, fired on time by the job function and by
the real scheduler, once after a restart, and once with two scheduler processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from app.clock import clock
from app.data.models import AuditEvent, InstanceStatus, ProcessInstance
from app.data.models.notifications import scheduler_jobs
from app.scheduler import start_scheduler, stop_scheduler, timers
from tests.conftest import BACKEND
from tests.timers.conftest import fired_count, instance_status, start_timer_instance, wait_for

ROOT = Path(__file__).resolve().parents[2]


def job_row(database, instance_id: int):
    with database.engine.connect() as conn:
        return conn.execute(
            select(scheduler_jobs).where(scheduler_jobs.c.id == f"timer:{instance_id}")
        ).first()


def test_job_written_with_the_instance_and_fired_on_time_with_a_moved_clock(timer_app):
    database = timer_app.extensions["database"]
    t0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    clock.set(t0)
    instance_id = start_timer_instance(timer_app, "PT48H")
    due = t0 + timedelta(hours=48)
    row = job_row(database, instance_id)
    assert row is not None and row.next_run_time == pytest.approx((due + timers.TIMER_EPSILON).timestamp())
    timers._context["app"] = timer_app

    clock.set(due - timedelta(seconds=1))
    assert timers.fire_instance_timer(instance_id) is False
    assert instance_status(database, instance_id) == InstanceStatus.RUNNING

    clock.set(due + timers.TIMER_EPSILON)  # the engine fires once the due time has passed
    assert timers.fire_instance_timer(instance_id) is True
    assert instance_status(database, instance_id) == InstanceStatus.COMPLETED
    assert job_row(database, instance_id) is None  # nothing due any more: the job is gone
    assert timers.fire_instance_timer(instance_id) is False  # a second run changes nothing
    with database.session() as session:
        assert fired_count(session, instance_id) == 1


def test_real_scheduler_fires_within_one_second_of_due(timer_app):
    database = timer_app.extensions["database"]
    start_scheduler(timer_app)  # running before the job exists: it must notice the new row
    instance_id = start_timer_instance(timer_app, "PT2S")
    with database.session() as session:
        due = session.get(ProcessInstance, instance_id).next_due_at
    assert due is not None
    assert wait_for(lambda: instance_status(database, instance_id) == InstanceStatus.COMPLETED, timeout=6)
    with database.session() as session:
        fired = session.scalars(
            select(AuditEvent.at).where(AuditEvent.instance_id == instance_id, AuditEvent.action == "timer_fired")
        ).all()
    assert len(fired) == 1
    lateness = (fired[0] - due).total_seconds()
    assert 0 <= lateness < 1.0, f"fired {lateness:.3f} s after due"


def test_restart_with_overdue_timers_fires_each_once(timer_app):
    database = timer_app.extensions["database"]
    clock.set(datetime.now(UTC) - timedelta(hours=1))  # started an hour ago, app down since
    ids = [start_timer_instance(timer_app, "PT10M") for _ in range(3)]
    clock.reset()
    start_scheduler(timer_app)
    assert wait_for(lambda: all(instance_status(database, i) == InstanceStatus.COMPLETED for i in ids), timeout=8)
    time.sleep(1.5)  # a few more safety-net rounds: nothing fires twice
    stop_scheduler(timer_app)
    with database.session() as session:
        assert [fired_count(session, i) for i in ids] == [1, 1, 1]


SCHEDULER_SCRIPT = """
import logging, sys
logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s %(message)s")
from config import TestConfig
class Cfg(TestConfig):
    DATABASE_URL = sys.argv[1]
    SCHEDULER_LEASE = False  # both active at once: the guard, not the lease, keeps timers single
from app import create_app
app = create_app(Cfg)
logging.getLogger("app.scheduler.timers").setLevel(logging.INFO)
from app.scheduler import run_forever
print("ready", flush=True)
run_forever(app)
"""


@pytest.mark.skipif(BACKEND != "postgres",
                    reason="two scheduler processes need PostgreSQL row locks (TEST_DB=postgres)")
def test_two_scheduler_processes_fire_each_timer_once(timer_app):
    """Without the lease both schedulers run every job; the row lock and the engine state still
    fire each timer once (the lease and failover: tests/timers/test_several_servers.py)."""
    database = timer_app.extensions["database"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen([sys.executable, "-c", SCHEDULER_SCRIPT, database.url], cwd=ROOT, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    try:
        for proc in procs:
            assert proc.stdout.readline().strip() == "ready"
        time.sleep(1.0)  # both schedulers running
        ids = [start_timer_instance(timer_app, "PT2S") for _ in range(6)]
        assert wait_for(lambda: all(instance_status(database, i) == InstanceStatus.COMPLETED for i in ids),
                        timeout=10)
        time.sleep(1.5)
    finally:
        outputs = []
        for proc in procs:
            proc.terminate()
            try:
                outputs.append(proc.communicate(timeout=10)[1])
            except subprocess.TimeoutExpired:
                proc.kill()
                outputs.append(proc.communicate()[1])
    with database.session() as session:
        assert [fired_count(session, i) for i in ids] == [1] * len(ids)
    attempts = [out.count("timer job of instance") for out in outputs]
    assert all(a > 0 for a in attempts), f"both schedulers should have run timer jobs: {attempts}\n{outputs}"
