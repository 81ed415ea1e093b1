"""Build, start and run the scheduler (in the web process with ``make run``, or alone with
``flask scheduler``).

BPMN timers are not APScheduler jobs: the active scheduler runs a
:class:`app.scheduler.timers.TimerLoop` beside APScheduler, which fires them from the indexed
``process_instance.next_due_at`` (``TIMER_WORKERS`` threads, at most ``TIMER_BATCH`` in flight,
a look at least every ``TIMER_POLL_SECONDS``). The periodic jobs below live in memory, each scheduler
process adds its own:

* ``calendar_refresh`` every ``CALENDAR_REFRESH_SECONDS`` (1 s): reloads the working calendar
  if an admin changed it in another process;
* ``escalation`` every ``ESCALATION_INTERVAL_SECONDS``: the escalation ladder;
* ``outbox`` every ``OUTBOX_INTERVAL_SECONDS``: sends pending e-mails, a backlog batch after batch
  within the interval;
* ``customer_clock`` every ``CUSTOMER_CLOCK_INTERVAL_SECONDS``: moves the stored state of the
  customers' clocks (on track → at risk → breached) for lists, filters and reports;
* ``monthly_report`` hourly: e-mails last month's management report once (admin setting);
* ``audit_head`` daily (and at start): publishes the audit chain head to the log and
  ``AUDIT_HEAD_LOG``, so a later ``flask audit verify --published`` detects a cut-off trail;
* ``cycle_rollup`` hourly (first a minute after start): counts the cycle times of the months sealed
  or dropped since (:mod:`app.services.analytics.rollup`; a month already counted is skipped);
* ``start:<process>``: starts the processes whose start event has a ``startSchedule`` property
  (the weekly assessment: every 7 days from Monday 09:00 Asia/Shanghai), re-read every minute
  so a redeployed diagram changes the schedule.

Exactly one scheduler process is active at a time: each holds the PostgreSQL lease of
:mod:`app.scheduler.lease` to run, the others wait as standbys and take over within a second
when it goes away. Two schedulers at once (``SCHEDULER_LEASE=false``, or a lost lease) are
still safe: both may run a due job, but the instance row lock and the
engine state fire each timer once; the ladder and the outbox claim their rows with
compare-and-set updates; the weekly start is idempotent per week.
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import timedelta
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask

from app.clock import clock
from app.engine import audit
from app.engine.definitions.schedules import parse_schedule, start_schedules
from app.scheduler import timers
from app.scheduler.lease import SchedulerLease, run_leased

log = logging.getLogger(__name__)



def schedule_trigger(schedule: str) -> IntervalTrigger:
    """The APScheduler trigger of a diagram's ``startSchedule`` (e.g. R/2026-01-05T09:00:00+08:00/P7D)."""
    start, interval = parse_schedule(schedule)
    return IntervalTrigger(seconds=interval.total_seconds(), start_date=start, timezone="UTC")


def weekly_trigger(app: Flask | None = None) -> IntervalTrigger:
    """When the live weekly assessment diagram says it starts (Mondays 09:00 Shanghai as shipped)."""
    return schedule_trigger(_schedules(app)["weekly_assessment"])


def _schedules(app: Flask | None) -> dict[str, str]:
    from flask import current_app

    app = app or current_app._get_current_object()  # type: ignore[attr-defined]  # the proxied app
    with app.extensions["database"].session() as session:
        return start_schedules(session)


def _in_app(app: Flask, name: str, fn, *args: Any) -> Any:
    with app.app_context(), audit.origin(timers.SCHEDULER):
        try:
            return fn(*args)
        except Exception:
            log.exception("scheduler job %s failed", name)
            return None


def calendar_refresh(app: Flask) -> None:
    """Pick up calendar changes made by other processes."""
    from app.services import calendar_admin

    with app.extensions["database"].session() as session:
        calendar_admin.refresh_if_changed(app, session)


def escalation_job(app: Flask) -> int:
    from app.services.escalation import run_ladder, settings_from_config

    with app.extensions["database"].transaction() as session:
        return len(run_ladder(session, clock.now(), settings_from_config(app.config)))


def customer_clock_job(app: Flask) -> int:
    from app.services.customer_clock import refresh

    with app.extensions["database"].transaction() as session:
        return refresh(session, clock.now())


def outbox_job(app: Flask) -> tuple[int, int]:
    from app.services.notifications import drain_backlog

    return drain_backlog(app.extensions["database"], app.config,
                         budget_s=float(app.config.get("OUTBOX_INTERVAL_SECONDS", 10)))


def scheduled_start_job(app: Flask, process_key: str):
    """Start a scheduled process; the weekly assessment builds its week's rows first."""
    from app.engine.context import Actor
    from app.services.escalation import settings_from_config
    from app.services.weekly import start_weekly_assessment

    with app.extensions["database"].transaction() as session:
        if process_key == "weekly_assessment":
            basis = settings_from_config(app.config).lateness_days
            instance = start_weekly_assessment(session, app.extensions["runtime"], clock.now(), basis)
        else:
            instance = app.extensions["runtime"].start(session, process_key, {}, Actor.system("scheduler"))
        return instance.id if instance is not None else None


def refresh_schedules(app: Flask, scheduler: BackgroundScheduler) -> None:
    """(Re)schedule the starts the live diagrams ask for; a redeployed diagram takes effect here."""
    try:
        wanted = _schedules(app)
    except Exception:
        log.exception("could not read the start schedules of the deployed diagrams")
        return
    for job in scheduler.get_jobs(jobstore="default"):
        if job.id.startswith("start:") and job.id[len("start:"):] not in wanted:
            job.remove()
    for key, schedule in wanted.items():
        job = scheduler.get_job(f"start:{key}", jobstore="default")
        if job is not None and job.kwargs.get("schedule") == schedule:
            continue
        try:
            trigger = schedule_trigger(schedule)
        except ValueError:
            log.warning("process %s: unreadable startSchedule %r", key, schedule)
            continue
        scheduler.add_job(_start_scheduled, trigger, args=[app, key], kwargs={"schedule": schedule},
                          id=f"start:{key}", jobstore="default", replace_existing=True)


def _start_scheduled(app: Flask, key: str, schedule: str) -> Any:
    return _in_app(app, f"start:{key}", scheduled_start_job, app, key)


def audit_head_job(app: Flask) -> tuple[int, str]:
    """Publish the audit chain head (log and ``AUDIT_HEAD_LOG``): daily, and when the scheduler starts."""
    from app.services.audit_trail import publish_head

    return publish_head(app.extensions["database"], app.config.get("AUDIT_HEAD_LOG"))


def monthly_report_job(app: Flask) -> int:
    """E-mail last month's management report, once, when the admin setting asks for it."""
    from app.services.documents.monthly_report import mail_monthly_report

    with app.extensions["database"].transaction() as session:
        return mail_monthly_report(session, app.config["UPLOAD_DIR"], clock.now(),
                                   str(app.config.get("BASE_URL") or ""))


def cycle_rollup_job(app: Flask) -> int:
    """Count the cycle times of the months sealed (and of any dropped) since the last run."""
    from app.services.analytics.rollup import fill_missing

    return fill_missing(app.extensions["database"].transaction)


def build_scheduler(app: Flask) -> BackgroundScheduler:
    """A scheduler with this process's periodic jobs (not started; the timers: :func:`timer_loop`)."""
    scheduler = BackgroundScheduler(
        jobstores={"default": MemoryJobStore()},
        executors={"default": ThreadPoolExecutor(app.config.get("SCHEDULER_THREADS", 10))},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        timezone="UTC",
    )
    every = app.config.get
    scheduler.add_job(_in_app, "interval", seconds=every("CALENDAR_REFRESH_SECONDS", 1.0),
                      args=[app, "calendar_refresh", calendar_refresh, app], id="calendar_refresh",
                      replace_existing=True)
    scheduler.add_job(_in_app, "interval", seconds=every("ESCALATION_INTERVAL_SECONDS", 60),
                      args=[app, "escalation", escalation_job, app], id="escalation", replace_existing=True)
    scheduler.add_job(_in_app, "interval", seconds=every("OUTBOX_INTERVAL_SECONDS", 10),
                      args=[app, "outbox", outbox_job, app], id="outbox", replace_existing=True)
    scheduler.add_job(_in_app, "interval", seconds=every("CUSTOMER_CLOCK_INTERVAL_SECONDS", 60),
                      args=[app, "customer_clock", customer_clock_job, app], id="customer_clock",
                      replace_existing=True)
    scheduler.add_job(_in_app, "interval", seconds=every("SCHEDULE_REFRESH_SECONDS", 60),
                      args=[app, "refresh_schedules", refresh_schedules, app, scheduler],
                      id="refresh_schedules", replace_existing=True, next_run_time=clock.now())
    scheduler.add_job(_in_app, "interval", seconds=every("MONTHLY_REPORT_INTERVAL_SECONDS", 3600),
                      args=[app, "monthly_report", monthly_report_job, app], id="monthly_report",
                      replace_existing=True)
    scheduler.add_job(_in_app, "interval", hours=every("AUDIT_HEAD_INTERVAL_HOURS", 24),
                      args=[app, "audit_head", audit_head_job, app], id="audit_head", replace_existing=True,
                      next_run_time=clock.now())
    scheduler.add_job(_in_app, "interval", seconds=every("CYCLE_ROLLUP_INTERVAL_SECONDS", 3600),
                      args=[app, "cycle_rollup", cycle_rollup_job, app], id="cycle_rollup", replace_existing=True,
                      next_run_time=clock.now() + timedelta(minutes=1))
    return scheduler



def timer_loop(app: Flask) -> timers.TimerLoop:
    """The timer loop of ``app`` (not started)."""
    every = app.config.get
    return timers.TimerLoop(app.extensions["database"], app.extensions["runtime"], app,
                            workers=int(every("TIMER_WORKERS", 4)), batch=int(every("TIMER_BATCH", 16)),
                            poll_seconds=float(every("TIMER_POLL_SECONDS", 1.0)))


def start_scheduler(app: Flask) -> BackgroundScheduler:
    """Start the timer loop and a background scheduler in this process (``make run`` or
    ``flask scheduler``)."""
    loop = timer_loop(app)
    loop.start()
    app.extensions["timer_loop"] = loop
    scheduler = build_scheduler(app)
    scheduler.start()
    app.extensions["scheduler"] = scheduler
    log.info("scheduler started (timers, escalation, outbox, weekly assessment)")
    return scheduler


def stop_scheduler(app: Flask, wait: bool = True) -> None:
    loop = app.extensions.pop("timer_loop", None)
    if loop is not None:
        loop.stop(wait=wait)
    scheduler = app.extensions.pop("scheduler", None)
    if scheduler is not None and scheduler.running:
        scheduler.shutdown(wait=wait)


def _lease_loop(app: Flask, stopping: threading.Event) -> None:
    """Run the scheduler in this process while it holds the lease (see :mod:`app.scheduler.lease`)."""
    lease = SchedulerLease(app.extensions["database"].engine, enabled=app.config.get("SCHEDULER_LEASE", True))
    run_leased(lease, lambda: start_scheduler(app), lambda: stop_scheduler(app, wait=False), stopping,
               float(app.config.get("SCHEDULER_LEASE_POLL_SECONDS", 1.0)))


def start_leased(app: Flask) -> threading.Event:
    """Compete for the lease in a background thread of this process (``SCHEDULER_ENABLED``);
    set the returned event to stop."""
    stopping = threading.Event()
    threading.Thread(target=_lease_loop, args=(app, stopping), name="scheduler-lease", daemon=True).start()
    return stopping


def run_forever(app: Flask) -> None:
    """Run as a scheduler process until interrupted (SIGINT or SIGTERM): the active one while it
    holds the lease, a standby otherwise."""
    stopping = threading.Event()

    def _stop(*_args) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    _lease_loop(app, stopping)


__all__ = [
    "build_scheduler",
    "run_forever",
    "schedule_trigger",
    "start_leased",
    "start_scheduler",
    "stop_scheduler",
    "timer_loop",
    "weekly_trigger",
]
