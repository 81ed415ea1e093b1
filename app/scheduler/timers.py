"""BPMN timers: one loop in the active scheduler fires them from the indexed due time.

* Every save of an instance stores its next due time (``process_instance.next_due_at``,
  indexed with ``status``) in the workflow transaction; that column is the only timer
  record — web workers write nothing else for a timer.
* The active scheduler runs a :class:`TimerLoop`. One statement reads the running instances
  due within the next poll interval (earliest first: those in flight and a few more); the loop
  hands each to a pool thread the moment it falls due (at most ``TIMER_BATCH`` in flight), and
  each fires in its own transaction (:func:`fire_one`: ``runtime.fire_timers`` locks the
  instance row and fires only what is due by the engine's own state, so a second attempt —
  another scheduler, a retry — changes nothing). Between due times it sleeps until exactly
  the next one read, but at most ``TIMER_POLL_SECONDS``: a timer written by another process
  is seen within that.
* A timer that fell due while no scheduler ran fires as soon as one starts (it is simply due).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from app.clock import clock
from app.engine import audit
from app.engine.audit import Origin
from app.engine.errors import EngineError
from app.engine.runtime import WorkflowRuntime, due_timers

log = logging.getLogger(__name__)

#: SpiffWorkflow fires a timer when its due time is strictly in the past: wake a millisecond after it.
TIMER_EPSILON = timedelta(milliseconds=1)


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


class TimerLoop:
    """The active scheduler's timer loop (see the module docstring); :meth:`start` and :meth:`stop`.

    ``app`` (optional) gives every fire its application context, as the web requests have.
    With ``workers`` > 1 (PostgreSQL) the loop hands each instance to a pool thread the moment
    it falls due and goes on without waiting for it (the fires' database round trips overlap;
    at most ``batch`` in flight); with one (SQLite, whose single writer would only make them
    queue) it fires them itself, one after the other."""

    #: how many instances not yet handed out one look-up reads, beyond those in flight
    ROUND = 16

    def __init__(self, database, runtime: WorkflowRuntime, app: Any = None, *, workers: int = 4,
                 batch: int = 16, poll_seconds: float = 1.0) -> None:
        self.database = database
        self.runtime = runtime
        self.app = app
        self.workers = max(1, workers if database.dialect != "sqlite" else 1)
        self.batch = batch
        self.poll_seconds = poll_seconds
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        #: handed to the pool, not finished
        self._in_flight: set[int] = set()
        #: finished → when (monotonic): a look-up begun before then may still see it due
        self._done: dict[int, float] = {}
        #: instances whose last fire did not move them → when (monotonic) to try again
        self._retry: dict[int, float] = {}
        #: instances the last look-up read that were not due yet, with their due time
        self._known: list[tuple[int, datetime]] = []
        #: the loop waits for fires to finish (``batch`` in flight and more due)
        self._want_wake = False

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="timer-loop", daemon=True)
        self._thread.start()

    def stop(self, wait: bool = True) -> None:
        """Stop after the fires under way (each is its own transaction: an interrupted one rolls back)."""
        self._stopping.set()
        self._wake.set()
        if wait and self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=True)
            self._pool = None

    def in_flight(self) -> int:
        with self._lock:
            return len(self._in_flight)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                pause = self.run_once()
            except Exception:
                if self._stopping.is_set():
                    break  # stopped mid-round
                log.exception("timer loop: round failed")
                pause = self.poll_seconds
            if pause > 0:
                self._wake.wait(pause)
                self._wake.clear()

    def run_once(self) -> float:
        """Fire (or hand out) what is due now; how long to sleep before the next round (0: go
        on at once).

        One statement looks ahead a poll interval, reading the instances in flight and up to
        :attr:`ROUND` more: it gives the due ones and, when none is, the next due time to wake
        at. An instance that did not move (its fire failed) is tried again after a poll
        interval, not in every round."""
        now = clock.now()
        horizon = now - TIMER_EPSILON  # the engine fires only what is strictly past due
        if self.workers > 1 and self._known:  # hand out what the last look-up saw fall due by now,
            self._hand_out(horizon)           # before this round's look-up costs its round trips
        looked = time.monotonic()
        with self._lock:
            busy = len(self._in_flight)
        limit = busy + self.ROUND
        with self.database.session() as session:
            rows = due_timers(session, now + timedelta(seconds=self.poll_seconds), limit)
        self._known = []
        with self._lock:
            self._done = {i: at for i, at in self._done.items() if at > looked}
            self._retry = {i: at for i, at in self._retry.items() if at > looked}
            skip = self._in_flight | self._done.keys() | self._retry.keys()
            fresh = [(i, at) for i, at in rows if i not in skip]
            room = self.batch - len(self._in_flight)
            ready = [i for i, at in fresh if at <= horizon]
            due = ready[:max(room, 0)]
            if self.workers > 1:
                self._in_flight.update(due)
        if due and self.workers == 1:
            for instance_id in due:
                self._finished(instance_id, self._fire(instance_id))
            return 0.0
        for instance_id in due:
            self._submit(instance_id)
        with self._lock:
            # more are due than were handed out, or may be beyond a full read that ends with due ones
            more = len(ready) > len(due) or (len(rows) == limit and rows[-1][1] <= horizon)
            if more and due and len(self._in_flight) < self.batch:
                return 0.0  # and there is room: go on at once
            if more and self._in_flight:
                self._want_wake = True  # look again when half the fires in flight are done
                return self.poll_seconds
            waits = [min(self._retry.values()) - looked] if self._retry else []
        self._known = [(i, at) for i, at in fresh if at > horizon]
        later = [at for _i, at in self._known]
        if later:
            waits.append((later[0] - clock.now() + TIMER_EPSILON).total_seconds())
        return min([self.poll_seconds, *(max(wait, 0.0) for wait in waits)])

    def _hand_out(self, horizon: datetime) -> None:
        """Submit the instances the last look-up read that are due by now (a timer moved since
        then only costs a fire that finds nothing due: the engine's state decides)."""
        with self._lock:
            room = self.batch - len(self._in_flight)
            skip = self._in_flight | self._done.keys() | self._retry.keys()
            due = [i for i, at in self._known if at <= horizon and i not in skip][:max(room, 0)]
            self._in_flight.update(due)
            self._known = [(i, at) for i, at in self._known if i not in self._in_flight]
        for instance_id in due:
            self._submit(instance_id)

    def _submit(self, instance_id: int) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="timer")
        try:
            self._pool.submit(lambda: self._finished(instance_id, self._fire(instance_id)))
        except RuntimeError:  # the pool was shut down: stopping
            self._finished(instance_id, False)

    def _finished(self, instance_id: int, moved: bool) -> None:
        ticks = time.monotonic()
        with self._lock:
            self._in_flight.discard(instance_id)
            self._done[instance_id] = ticks
            if not moved:
                self._retry[instance_id] = ticks + self.poll_seconds
            if self._want_wake and len(self._in_flight) <= self.batch // 2:
                self._want_wake = False
                self._wake.set()

    def fire(self, instance_ids: list[int]) -> list[bool]:
        """Fire these instances now, each in its own transaction, one after the other; whether each moved."""
        return [self._fire(instance_id) for instance_id in instance_ids]

    def _fire(self, instance_id: int) -> bool:
        if self._stopping.is_set():
            return False
        with self.app.app_context() if self.app is not None else contextlib.nullcontext(), audit.origin(SCHEDULER):
            moved = fire_one(self.database, self.runtime, instance_id)
        log.info("timer of instance %s: %s", instance_id, "fired" if moved else "nothing due")
        return moved


__all__ = ["SCHEDULER", "TIMER_EPSILON", "TimerLoop", "fire_one"]
