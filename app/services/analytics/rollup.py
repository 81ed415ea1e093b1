"""Cycle times of sealed months counted in advance, so a year's percentiles add up counts instead of
ranking every task of the year (``cycle_month``, ``cycle_rollup``; migration 0021_cycle_rollup).

A task is completed "now": no completion lands in a month that is over. A local calendar month
that ended over :data:`SEAL_MARGIN` ago (a transaction completing a task at its last moment has
committed long since) is *sealed*: its case tasks are counted once per (stage, department, hours
rounded to the tenth the reports show) — :func:`fill_month`, the same expression and the same
rounding as the reports' own reading of the tasks. Rounding keeps the order, so the nearest-rank
percentile of the rounded values is the rounded percentile: the counts give the figures exactly.

Never stale: database triggers on ``human_task`` drop a month's counts when one of its completed
tasks is inserted, changed or deleted (retention, a case deleted, an import); the reports then read
that month from the tasks until it is filled again. Nothing here runs on the completion path: the
scheduler's job (:func:`fill_missing`, hourly: the month just sealed, and any month dropped) and
``flask cycle-rollup`` fill the months missing, one transaction each.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy.orm import Session

from app.clock import clock, local_zone
from app.data.queries import analytics as q

#: how long after its end a month is sealed
SEAL_MARGIN = timedelta(days=1)
#: the fewest counted months a report reads from the rollup: for fewer (a month, a quarter),
#: ranking the tasks themselves is as fast or faster (measured at 100k cases: docs/benchmarks.md)
MIN_MONTHS = 3


def tenths(hours: Any) -> int:
    """The hours as the reports show them (``round(float(hours), 1)``), in whole tenths."""
    return round(round(float(hours), 1) * 10)


def _month_start(day: date) -> datetime:
    return datetime.combine(day.replace(day=1), time(), local_zone())


def sealed_months(first: datetime, now: datetime) -> list[tuple[datetime, datetime]]:
    """The sealed months from the one containing ``first`` on, as UTC instants."""
    out: list[tuple[datetime, datetime]] = []
    start = _month_start(first.astimezone(local_zone()).date())
    while True:
        end = _month_start((start + timedelta(days=32)).date())
        if end + SEAL_MARGIN > now:
            return [(s.astimezone(UTC), e.astimezone(UTC)) for s, e in out]
        out.append((start, end))
        start = end


def missing_months(session: Session, now: datetime | None = None) -> list[tuple[datetime, datetime]]:
    """The sealed months with completed case tasks on record that are not counted yet."""
    now = now or clock.now()
    first = q.first_completion(session)
    if first is None:
        return []
    done = {start for start, _end in q.rolled_up_months(session)}
    return [(start, end) for start, end in sealed_months(first, now) if start not in done]


def fill_month(session: Session, start: datetime, end: datetime, now: datetime | None = None) -> bool:
    """Count the case tasks completed in the sealed month [start, end); False if it already is."""
    now = now or clock.now()
    if end + SEAL_MARGIN > now:
        raise ValueError("the month is not sealed yet")
    q.lock_rollup(session)
    overlapping = q.overlapping_months(session, start, end)
    if (start, end) in overlapping:
        return False
    if overlapping:  # months of another time zone (the setting changed): never counted twice
        q.drop_months(session, [month_start for month_start, _end in overlapping])
    counts: Counter[tuple[str | None, int | None, int]] = Counter()
    for row in q.completed_tasks(session, q.Window(start, end)):
        counts[(row.stage, row.department_id, tenths(row.hours))] += 1
    q.store_rollup(session, start, end, now, dict(counts))
    return True


def fill_missing(transaction: Callable[[], Any], now: datetime | None = None, limit: int | None = None) -> int:
    """Fill the missing months, each in its own transaction (``transaction()``: a context manager
    giving a session); returns how many were filled."""
    with transaction() as session:
        months = missing_months(session, now)
    filled = 0
    for start, end in months[:limit]:
        with transaction() as session:
            filled += fill_month(session, start, end, now)
    return filled


def covered(session: Session, window: q.Window) -> list[tuple[datetime, datetime]]:
    """The counted months inside the window; none when it filters on case columns (those read the
    tasks), spans fewer than :data:`MIN_MONTHS` months or has fewer counted ones."""
    if window.equal or window.end - window.start < timedelta(days=28 * MIN_MONTHS):
        return []
    months = q.rolled_up_months(session, window.start, window.end)
    return months if len(months) >= MIN_MONTHS else []
