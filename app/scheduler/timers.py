"""BPMN timers as exact APScheduler date jobs, plus the safety net that fires overdue ones.

* After every instance save, :func:`timer_hook` (a runtime hook) writes the instance's next
  due time (``process_instance.next_due_at``) as the date job ``timer:<instance id>`` into
  APScheduler's job table, **in the workflow transaction** — so the job exists exactly when
  the state that needs it is committed (and is removed when nothing is due any more).
  Web workers only write rows; only a process running the scheduler executes them.
* When the job fires, :func:`fire_instance_timer` runs ``runtime.fire_timers`` in one
  transaction; the runtime locks the instance row and fires only what is due by the engine's
  own state, so a second attempt (another scheduler, the safety net) changes nothing.
* APScheduler 3 only re-reads its job store when it wakes up. The scheduler therefore also
  runs :func:`fire_due_timers` every second: it wakes the scheduler (so jobs written by
  other processes are seen within a second) and fires any instance whose indexed
  ``next_due_at`` has passed (a job lost in a race, or written less than a second before
  it was due).
"""

from __future__ import annotations

import logging
import pickle
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.triggers.date import DateTrigger
from apscheduler.util import datetime_to_utc_timestamp
from sqlalchemy import delete, or_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.clock import clock
from app.data.models import InstanceStatus, ProcessInstance
from app.data.models.notifications import scheduler_jobs
from app.engine import audit
from app.engine.audit import Origin
from app.engine.context import RunContext
from app.engine.errors import EngineError
from app.engine.runtime import WorkflowRuntime, due_instance_ids

log = logging.getLogger(__name__)

TIMER_JOB_PREFIX = "timer:"
TIMER_FUNC_REF = "app.scheduler.timers:fire_instance_timer"
#: SpiffWorkflow fires a timer when its due time is strictly in the past: run the job a
#: millisecond after it.
TIMER_EPSILON = timedelta(milliseconds=1)
#: Where the running scheduler keeps the app (set by :func:`app.scheduler.runner.start_scheduler`).
_context: dict[str, Any] = {}


def timer_job_id(instance_id: int) -> str:
    return f"{TIMER_JOB_PREFIX}{instance_id}"


def timer_job_state(instance_id: int, due: datetime) -> bytes:
    """The pickled APScheduler job state of ``timer:<instance_id>`` due at ``due``.

    ``misfire_grace_time=None`` and ``coalesce=True``: a timer that fell due while no
    scheduler ran fires once as soon as one starts.
    """
    due = due.astimezone(UTC) + TIMER_EPSILON
    state = {
        "version": 1,
        "id": timer_job_id(instance_id),
        "func": TIMER_FUNC_REF,
        "trigger": DateTrigger(run_date=due, timezone=UTC),
        "executor": "default",
        "args": (instance_id,),
        "kwargs": {},
        "name": f"timer of instance {instance_id}",
        "misfire_grace_time": None,
        "coalesce": True,
        "max_instances": 1,
        "next_run_time": due,
    }
    return pickle.dumps(state, pickle.HIGHEST_PROTOCOL)


def schedule_instance_timer(session: Session, instance: ProcessInstance) -> None:
    """(Re)write or remove the date job of ``instance`` in the current transaction: one
    statement, an upsert of the job's row or its ``DELETE``."""
    job_id = timer_job_id(instance.id)
    due = instance.next_due_at if instance.status == InstanceStatus.RUNNING else None
    if due is None:
        session.execute(delete(scheduler_jobs).where(scheduler_jobs.c.id == job_id))
        return
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(scheduler_jobs).values(
        id=job_id, next_run_time=datetime_to_utc_timestamp(due + TIMER_EPSILON),
        job_state=timer_job_state(instance.id, due),
    )
    session.execute(stmt.on_conflict_do_update(
        index_elements=[scheduler_jobs.c.id],
        set_={"next_run_time": stmt.excluded.next_run_time, "job_state": stmt.excluded.job_state},
    ))


def timer_hook(session: Session, instance: ProcessInstance, workflow: Any, ctx: RunContext) -> None:
    """Runtime hook: keep the instance's date job in step with ``next_due_at`` (nothing to do
    when the instance had no timer and still has none: it has no job then)."""
    has_timer = instance.status == InstanceStatus.RUNNING and instance.next_due_at is not None
    if ctx.had_timer is False and not has_timer:
        return
    schedule_instance_timer(session, instance)


class TimerJobStore(SQLAlchemyJobStore):
    """APScheduler's SQLAlchemy store, made safe for several schedulers and in-transaction writes.

    * Removing a job that is already gone (another scheduler ran it) is not an error.
    * After running a date job the scheduler removes it; by then the job function may have
      rescheduled the same id for a later time. Only a row that is still due is removed,
      so the new one survives.
    """

    def remove_job(self, job_id):  # noqa: D102
        now = datetime_to_utc_timestamp(datetime.now(UTC))
        stmt = self.jobs_t.delete().where(self.jobs_t.c.id == job_id).where(
            or_(self.jobs_t.c.next_run_time.is_(None), self.jobs_t.c.next_run_time <= now)
        )
        with self.engine.begin() as connection:
            connection.execute(stmt)

    def update_job(self, job):  # noqa: D102
        stmt = (
            self.jobs_t.update()
            .values(
                next_run_time=datetime_to_utc_timestamp(job.next_run_time),
                job_state=pickle.dumps(job.__getstate__(), self.pickle_protocol),
            )
            .where(self.jobs_t.c.id == job.id)
        )
        with self.engine.begin() as connection:
            connection.execute(stmt)


# ------------------------------------------------------------------------------ job functions

#: the audit origin of everything the scheduler does
SCHEDULER = Origin("scheduler")


def fire_one(database, runtime: WorkflowRuntime, instance_id: int) -> bool:
    """Fire the due timers of one instance in its own locked transaction; True when it moved."""
    try:
        with database.transaction() as session:
            return runtime.fire_timers(session, instance_id)
    except EngineError as exc:
        log.warning("timer of instance %s not fired: %s", instance_id, exc.message)
    except Exception:
        log.exception("timer of instance %s failed", instance_id)
    return False


def fire_due_timers(database, runtime: WorkflowRuntime, limit: int = 100) -> int:
    """Fire every running instance whose ``next_due_at`` has passed; returns how many moved."""
    with database.session() as session:
        due = due_instance_ids(session, clock.now(), limit)
    return sum(1 for instance_id in due if fire_one(database, runtime, instance_id))


def fire_instance_timer(instance_id: int) -> bool:
    """The function of every ``timer:<id>`` job (referenced by name in the job store)."""
    app = _context.get("app")
    if app is None:
        log.warning("timer job for instance %s ran without a scheduler app", instance_id)
        return False
    with app.app_context(), audit.origin(SCHEDULER):
        moved = fire_one(app.extensions["database"], app.extensions["runtime"], instance_id)
    log.info("timer job of instance %s: %s", instance_id, "fired" if moved else "nothing due")
    return moved


__all__ = [
    "TIMER_JOB_PREFIX",
    "TimerJobStore",
    "fire_due_timers",
    "fire_instance_timer",
    "fire_one",
    "schedule_instance_timer",
    "timer_hook",
    "timer_job_id",
    "timer_job_state",
]
