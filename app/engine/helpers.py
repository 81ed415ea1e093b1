"""Functions that diagram expressions may call (the sandbox exposes nothing else).

Other layers add theirs with :func:`register_helper` (the working-time calendar adds
``add_working_hours`` and ``add_working_days``), so deadlines are written in the BPMN.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from app.clock import clock

_HELPERS: dict[str, Callable[..., Any]] = {}


def register_helper(name: str, fn: Callable[..., Any]) -> None:
    _HELPERS[name] = fn


def helpers() -> dict[str, Callable[..., Any]]:
    """A copy of the registered helpers."""
    return dict(_HELPERS)


def to_datetime(value: Any) -> datetime:
    """An aware datetime from an ISO string or datetime (naive values are taken as UTC)."""
    result = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if result.tzinfo is None:
        result = result.replace(tzinfo=UTC)
    return result


def now() -> str:
    """The current instant as an ISO string in UTC."""
    return clock.now().isoformat()


def add_hours(start: Any, hours: float) -> str:
    """``start`` plus calendar hours, as an ISO string."""
    return (to_datetime(start) + timedelta(hours=float(hours))).isoformat()


def add_days(start: Any, days: float) -> str:
    """``start`` plus calendar days, as an ISO string."""
    return (to_datetime(start) + timedelta(days=float(days))).isoformat()


def hours_between(start: Any, end: Any) -> float:
    return (to_datetime(end) - to_datetime(start)).total_seconds() / 3600.0


def latest(*instants: Any) -> str:
    """The latest of the given instants (ISO strings or datetimes), as a UTC ISO string."""
    if not instants:
        raise ValueError("latest() needs at least one instant")
    return max(to_datetime(value) for value in instants).astimezone(UTC).isoformat()


def to_int(value: Any, default: int = 0) -> int:
    """``value`` as an integer, or ``default`` when it is missing or not a number."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


for _fn in (now, add_hours, add_days, hours_between, latest, to_int):
    register_helper(_fn.__name__, _fn)
