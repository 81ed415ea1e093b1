"""Exactly one active scheduler per database: a lease held as a PostgreSQL advisory lock.

Every scheduler process (``flask scheduler``, or a web process with ``SCHEDULER_ENABLED``)
runs :func:`run_leased`: it tries ``pg_try_advisory_lock`` on a connection of its own every
``SCHEDULER_LEASE_POLL_SECONDS`` (1 s) and runs the APScheduler jobs only while it holds the
lock. The lock belongs to the database session, so it is released when the holder's
connection ends — a clean stop, a crash or ``SIGKILL`` alike (the kernel closes the socket
and PostgreSQL ends the backend at once) — and a standby takes over within a poll interval;
timers that fell due meanwhile fire as soon as it starts (they are simply due).

The holder checks its connection every interval and stops its jobs when it is gone (the
database restarted, the network failed): another process may hold the lock by then. Should
two ever run for a moment, nothing fires twice — the instance row lock and the engine's own
state still fire each timer once (see :mod:`app.scheduler.timers`).

SQLite has no advisory locks: the lease is always granted, so run one server (one scheduler)
on SQLite. ``SCHEDULER_LEASE=false`` turns the lease off (every scheduler process active).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

log = logging.getLogger(__name__)

#: the advisory lock key of the scheduler lease (any fixed 64-bit number; "fbsched" in ASCII)
LEASE_KEY = 0x66627363686564


class SchedulerLease:
    """The scheduler lease of one database; on SQLite (or when disabled) always granted."""

    def __init__(self, engine: Engine, enabled: bool = True, key: int = LEASE_KEY) -> None:
        self.engine = engine
        self.key = key
        self.advisory = enabled and engine.dialect.name == "postgresql"
        self._conn: Connection | None = None
        self._held = False

    @property
    def held(self) -> bool:
        return self._held

    def try_acquire(self) -> bool:
        """Take the lease if nobody holds it; True when this process holds it now."""
        if not self.advisory:
            self._held = True
            return True
        try:
            if self._conn is None:
                self._conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            self._held = bool(self._conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar())
        except Exception:
            log.warning("scheduler lease: database unreachable", exc_info=True)
            self._drop()
        return self._held

    def still_held(self) -> bool:
        """Whether the lease is still ours (its connection alive); False once it is lost."""
        if not self.advisory or not self._held:
            return self._held
        try:
            assert self._conn is not None
            self._conn.execute(text("SELECT 1"))
        except Exception:
            log.warning("scheduler lease lost: its database connection failed", exc_info=True)
            self._drop()
        return self._held

    def release(self) -> None:
        if self.advisory and self._held and self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            except Exception:
                log.warning("scheduler lease: unlock failed (the connection's end releases it)", exc_info=True)
        self._drop()

    def _drop(self) -> None:
        self._held = False
        if self._conn is not None:
            try:
                self._conn.invalidate()  # never back into the pool: a session lock may be attached
                self._conn.close()
            except Exception:  # noqa: S110 - the connection is broken already; nothing to clean up
                pass
            self._conn = None


def run_leased(lease: SchedulerLease, start: Callable[[], None], stop: Callable[[], None],
               stopping: threading.Event, poll_seconds: float = 1.0) -> None:
    """Run ``start`` when the lease is taken, ``stop`` when it is lost, until ``stopping`` is set."""
    active = False
    try:
        while not stopping.is_set():
            if not active and lease.try_acquire():
                log.info("scheduler lease taken: this process runs the scheduler")
                start()
                active = True
            elif active and not lease.still_held():
                log.warning("scheduler lease lost: stopping this process's scheduler")
                stop()
                active = False
            stopping.wait(poll_seconds)
    finally:
        if active:
            stop()
        lease.release()


__all__ = ["LEASE_KEY", "SchedulerLease", "run_leased"]
