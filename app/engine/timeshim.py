"""Make SpiffWorkflow's timers read the application clock.

The library calls ``datetime.now(timezone.utc)`` inside its timer definitions. Giving that
module a ``datetime`` whose ``now`` asks :mod:`app.clock` keeps one notion of time in the
whole application, so a moved clock (tests, replays) moves the timers too.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from SpiffWorkflow.bpmn.specs.event_definitions import timer as _timer

from app.clock import clock


class _ClockDatetime(datetime):
    @classmethod
    def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]
        now = clock.now()
        return now.astimezone(tz) if tz is not None else now.astimezone().replace(tzinfo=None)


def install() -> None:
    """Idempotently point the library's timer module at the application clock."""
    _timer.datetime = _ClockDatetime


install()
