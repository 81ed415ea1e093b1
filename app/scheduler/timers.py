"""The timer scheduler: fires due BPMN timers, each in its own locked transaction.

Instances record their next timer due time in ``process_instance.next_due_at`` (indexed),
so finding due work is one cheap query; the engine's row lock and state make firing
idempotent, so a second scheduler process never fires a timer twice.
"""

from __future__ import annotations

import logging
import threading
import time

from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask

from app.clock import clock
from app.engine.errors import EngineError
from app.engine.runtime import WorkflowRuntime, due_instance_ids

log = logging.getLogger(__name__)
POLL_SECONDS = 1.0


def fire_due_timers(database, runtime: WorkflowRuntime, limit: int = 100) -> int:
    """Fire every instance whose timer is due now; returns how many moved."""
    with database.session() as session:
        due = due_instance_ids(session, clock.now(), limit)
    fired = 0
    for instance_id in due:
        try:
            with database.transaction() as session:
                if runtime.fire_timers(session, instance_id):
                    fired += 1
        except EngineError as exc:
            log.warning("timer of instance %s not fired: %s", instance_id, exc.message)
        except Exception:
            log.exception("timer of instance %s failed", instance_id)
    return fired


def start_scheduler(app: Flask) -> BackgroundScheduler:
    """Start a background scheduler in this process (used by ``make run``)."""
    database = app.extensions["database"]
    runtime = app.extensions["runtime"]
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(
        fire_due_timers, "interval", seconds=POLL_SECONDS, args=[database, runtime],
        id="fire_due_timers", max_instances=1, coalesce=True, replace_existing=True,
    )
    scheduler.start()
    app.extensions["scheduler"] = scheduler
    log.info("timer scheduler started")
    return scheduler


def run_forever(app: Flask) -> None:
    """Run the scheduler in the foreground until interrupted."""
    start_scheduler(app)
    stop = threading.Event()
    try:
        while not stop.is_set():
            time.sleep(3600)
    except KeyboardInterrupt:
        app.extensions["scheduler"].shutdown()
