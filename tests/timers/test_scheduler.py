"""Exact timers: the due time stored with the instance, fired on time by the timer loop (a moved
clock, a backlog larger than a round) and by the real scheduler, once after a restart, and once
with two scheduler processes."""

from __future__ import annotations

import logging
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
from app.scheduler import start_scheduler, stop_scheduler, timers
from tests.conftest import BACKEND
from tests.timers.conftest import fired_count, instance_status, start_timer_instance, wait_for

ROOT = Path(__file__).resolve().parents[2]


def loop_of(app, **kwargs) -> timers.TimerLoop:
    return timers.TimerLoop(app.extensions["database"], app.extensions["runtime"], app, **kwargs)


def test_the_loop_fires_on_time_with_a_moved_clock_and_once(timer_app):
    database = timer_app.extensions["database"]
    t0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    clock.set(t0)
    instance_id = start_timer_instance(timer_app, "PT48H")
    due = t0 + timedelta(hours=48)
    with database.session() as session:
        assert session.get(ProcessInstance, instance_id).next_due_at == due  # the only timer record
    loop = loop_of(timer_app, workers=1, poll_seconds=1.0)  # fires in run_once itself

    clock.set(due - timedelta(seconds=1))
    assert loop.run_once() == 1.0  # nothing due: sleep a poll interval (the timer is further off)
    clock.set(due - timedelta(seconds=0.25))
    assert loop.run_once() == pytest.approx(0.251)  # wake exactly when it falls due
    assert instance_status(database, instance_id) == InstanceStatus.RUNNING

    clock.set(due)  # the engine fires once the due time has passed, not at it
    assert loop.run_once() == pytest.approx(0.001)
    clock.set(due + timers.TIMER_EPSILON * 2)
    assert loop.run_once() == 0.0  # fired; look again at once
    assert instance_status(database, instance_id) == InstanceStatus.COMPLETED
    assert loop.run_once() == 1.0  # nothing running is due any more
    assert loop.fire([instance_id]) == [False]  # a second attempt (another scheduler) changes nothing
    with database.session() as session:
        assert fired_count(session, instance_id) == 1


def test_a_backlog_larger_than_a_batch_fires_each_once(timer_app):
    """More due timers than one round takes, fired by the worker threads (one on SQLite)."""
    database = timer_app.extensions["database"]
    t0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    clock.set(t0)
    ids = [start_timer_instance(timer_app, f"PT{10 + n}S") for n in range(7)]
    clock.set(t0 + timedelta(minutes=5))
    loop = loop_of(timer_app, workers=3, batch=3)
    loop.start()
    try:
        assert wait_for(lambda: all(instance_status(database, i) == InstanceStatus.COMPLETED for i in ids))
    finally:
        loop.stop()
    with database.session() as session:
        assert [fired_count(session, i) for i in ids] == [1] * len(ids)
        channels = session.scalars(select(AuditEvent.channel).where(
            AuditEvent.instance_id.in_(ids), AuditEvent.action == "timer_fired")).all()
    assert channels == ["scheduler"] * len(ids)  # each fire's audit event, from the worker threads


def test_a_failing_fire_is_tried_again_after_a_poll_interval_not_in_every_round(timer_app, caplog):
    database = timer_app.extensions["database"]
    t0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    clock.set(t0)
    broken = start_timer_instance(timer_app, "PT10S")
    with database.transaction() as session:
        session.get(ProcessInstance, broken).state = "{ not a workflow"  # its fire fails
    clock.set(t0 + timedelta(minutes=1))
    loop = loop_of(timer_app, workers=1, poll_seconds=1.0)
    with caplog.at_level(logging.WARNING, logger="app.scheduler.timers"):
        assert loop.run_once() == 0.0  # tried, failed
        assert 0.5 < loop.run_once() <= 1.0  # not again at once: it waits for the retry
    attempts = [r for r in caplog.records if f"instance {broken}" in r.getMessage() and r.levelno >= logging.WARNING]
    assert len(attempts) == 1, [r.getMessage() for r in caplog.records]
    assert instance_status(database, broken) == InstanceStatus.RUNNING


def test_real_scheduler_fires_within_one_second_of_due(timer_app):
    database = timer_app.extensions["database"]
    start_scheduler(timer_app)  # running before the timer exists: it must notice the new instance
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
    attempts = [out.count("timer of instance") for out in outputs]
    assert all(a > 0 for a in attempts), f"both schedulers should have fired timers: {attempts}\n{outputs}"
