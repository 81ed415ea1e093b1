"""Timers at volume: N instances of a small diagram whose timer falls due at spread times
within a window of a few minutes, two scheduler processes (one active by the lease, one
standby), lag = when the timer fired (its audit event) minus its due time."""

from __future__ import annotations

import math
import os
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from bench import servers

NS = ('xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
      'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"')
TIMER_BPMN = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions {NS} id="Defs_bench_timer" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="bench_timer" name="Bench timer" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:intermediateCatchEvent id="wait" name="wait">
      <bpmn:timerEventDefinition id="wait_def">
        <bpmn:timeDuration xsi:type="bpmn:tFormalExpression">delay</bpmn:timeDuration>
      </bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:endEvent id="end" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait" />
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>"""


def timer_run(db, count: int, window_s: float, start_scheduler) -> dict[str, object]:
    """Create ``count`` timers due over ``window_s`` seconds, run two schedulers, measure."""
    from app import create_app
    from app.data.models import AuditEvent, ProcessInstance
    from app.engine.definitions.deploy import deploy
    from app.services.setup import known_department_names
    from bench.load import percentiles
    from config import TestConfig

    class Cfg(TestConfig):
        DATABASE_URL = db.url

    app = create_app(Cfg)
    database, runtime = app.extensions["database"], app.extensions["runtime"]
    with database.transaction() as session:
        deploy(session, {"bench_timer.bpmn": TIMER_BPMN}, {}, known_departments=known_department_names(session))
    schedulers = [start_scheduler(), start_scheduler()]
    try:
        # how long a start takes here, so that every timer is written before the first falls due
        t = time.perf_counter()
        for _ in range(20):
            with database.transaction() as session:
                runtime.start(session, "bench_timer", {"delay": "PT1H"})
        per_start = (time.perf_counter() - t) / 20
        first_due = datetime.now(UTC) + timedelta(seconds=per_start * count * 1.5 + 20)
        for i in range(count):
            due = first_due + timedelta(seconds=window_s * i / count)
            delay = max(1, math.ceil((due - datetime.now(UTC)).total_seconds()))
            with database.transaction() as session:
                runtime.start(session, "bench_timer", {"delay": f"PT{delay}S"})
        with database.session() as session:
            due_at = dict(session.execute(select(ProcessInstance.id, ProcessInstance.next_due_at).where(
                ProcessInstance.process_key == "bench_timer", ProcessInstance.next_due_at < first_due
                + timedelta(seconds=window_s + 60))).all())
        last_due = max(due_at.values())
        cpu_before = [servers.cpu_seconds(s.pid) for s in schedulers]
        load_before = os.getloadavg()[0]
        deadline = time.monotonic() + max(0.0, (last_due - datetime.now(UTC)).total_seconds()) + 180
        while time.monotonic() < deadline:
            with database.session() as session:
                left = session.scalar(select(func.count()).select_from(ProcessInstance).where(
                    ProcessInstance.id.in_(list(due_at)), ProcessInstance.status == "running"))
            if not left:
                break
            time.sleep(2)
        time.sleep(3)
        cpu = [round(servers.cpu_seconds(s.pid) - c, 2) for s, c in zip(schedulers, cpu_before, strict=True)]
        load_after = os.getloadavg()[0]
        with database.session() as session:
            fired = session.execute(select(AuditEvent.instance_id, AuditEvent.at).where(
                AuditEvent.action == "timer_fired", AuditEvent.instance_id.in_(list(due_at)))).all()
        first: dict[int, datetime] = {}
        fires: dict[int, int] = {}
        for instance_id, at in fired:
            fires[instance_id] = fires.get(instance_id, 0) + 1
            first[instance_id] = min(at, first.get(instance_id, at))
        lags = [(first[i] - due_at[i]).total_seconds() for i in first]
        # fires per second from the first due time to the last fire: the arrival rate when the
        # scheduler keeps up, its capacity when a backlog (window 0) is drained
        span = (max(first.values()) - min(due_at.values())).total_seconds() if first else 0.0
        active = [s for s in schedulers if "lease taken" in s.log.read_text()]
        return {
            "timers": len(due_at), "window_s": window_s, "fired": len(first),
            "not_fired": len(due_at) - len(first),
            "double_fires": sum(n - 1 for n in fires.values() if n > 1),
            "lag_s": {k: (round(v / 1000, 3) if k != "n" else v) for k, v in
                      percentiles([lag * 1000 for lag in lags]).items()},
            "lag_max_s": round(max(lags), 3) if lags else None,
            "fires_per_s": round(len(first) / span, 1) if span > 0 else None,
            "schedulers": 2, "active_schedulers": len(active),
            # CPU of both scheduler processes from the first due time to the end (polling included)
            "scheduler_cpu_s": cpu,
            "scheduler_cpu_ms_per_fire": round(sum(cpu) * 1000 / len(first), 2) if first else None,
            "load_average_1m": [round(load_before, 2), round(load_after, 2)],
        }
    finally:
        for proc in schedulers:
            proc.stop()
        database.dispose()
