"""The one source of "now" for the whole application, so tests can move time, and of the
local time zone (``APP_TIMEZONE``) that dates, working hours and week boundaries are taken in."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo


class Clock:
    """Wall-clock time in UTC; a frozen offset or fixed instant can be set by tests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fixed: datetime | None = None
        self._offset = timedelta(0)

    def now(self) -> datetime:
        """The current instant, timezone-aware UTC."""
        with self._lock:
            if self._fixed is not None:
                return self._fixed
            return datetime.now(UTC) + self._offset

    def set(self, instant: datetime | None) -> None:
        """Freeze time at ``instant`` (aware), or unfreeze with ``None``."""
        if instant is not None and instant.tzinfo is None:
            raise ValueError("Clock.set needs a timezone-aware datetime")
        with self._lock:
            self._fixed = instant.astimezone(UTC) if instant else None

    def advance(self, delta: timedelta) -> None:
        """Move time forward (frozen or running)."""
        with self._lock:
            if self._fixed is not None:
                self._fixed += delta
            else:
                self._offset += delta

    def reset(self) -> None:
        with self._lock:
            self._fixed = None
            self._offset = timedelta(0)


clock = Clock()


def utcnow() -> datetime:
    """Shortcut for ``clock.now()``."""
    return clock.now()


_zone: ZoneInfo | None = None


def local_zone() -> ZoneInfo:
    """The configured local time zone (``TIMEZONE`` in config.py, from ``APP_TIMEZONE``).

    The application factory sets it from the app's configuration; code used without an app
    (the engine on its own, scripts) gets the configuration's default.
    """
    global _zone
    if _zone is None:
        from config import Config  # late: the engine and data layers import this module without an app

        _zone = ZoneInfo(Config.TIMEZONE)
    return _zone


def set_local_zone(name: str) -> ZoneInfo:
    """Make ``name`` (an IANA zone such as the configured ``TIMEZONE``) the local time zone."""
    global _zone
    _zone = ZoneInfo(name)
    return _zone


def local_now() -> datetime:
    """``clock.now()`` in the local time zone (for today's date, this year, ...)."""
    return clock.now().astimezone(local_zone())
