"""Fires BPMN timers with APScheduler (see :mod:`app.scheduler.timers`)."""

from app.scheduler.timers import run_forever, start_scheduler

__all__ = ["run_forever", "start_scheduler"]
