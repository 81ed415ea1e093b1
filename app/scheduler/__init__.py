"""The scheduler: exact BPMN timers, the escalation ladder, the e-mail outbox, the weekly
assessment (see :mod:`app.scheduler.runner` and :mod:`app.scheduler.timers`)."""

from app.scheduler.runner import (
    run_forever,
    schedule_trigger,
    start_leased,
    start_scheduler,
    stop_scheduler,
    weekly_trigger,
)

__all__ = ["run_forever", "start_leased", "schedule_trigger", "start_scheduler", "stop_scheduler", "weekly_trigger"]
