"""Rate limits counted in the database, so every worker process shares one count per client.

A *bucket* names what is limited (``login_ip``, ``public_token``, ...), a *client* who (an
address, or an account). Hits older than the window are deleted as new ones arrive.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from app.clock import clock
from app.data.models import RateHit

CLIENT_LENGTH = 120  # the column's length


def _lock(session: Session, bucket: str, client: str) -> None:
    """Serialize counting for one client (PostgreSQL advisory lock; SQLite's write lock otherwise)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"rate:{bucket}:{client}"})


def hits(session: Session, bucket: str, client: str, window: timedelta, now: datetime | None = None) -> int:
    """How many hits ``client`` has in ``bucket`` within the last ``window``."""
    since = (now or clock.now()) - window
    return session.scalar(
        select(func.count()).select_from(RateHit)
        .where(RateHit.bucket == bucket, RateHit.client == client[:CLIENT_LENGTH], RateHit.at > since)
    ) or 0


def oldest_hit(session: Session, bucket: str, client: str, window: timedelta) -> datetime | None:
    since = clock.now() - window
    return session.scalar(
        select(func.min(RateHit.at))
        .where(RateHit.bucket == bucket, RateHit.client == client[:CLIENT_LENGTH], RateHit.at > since)
    )


def record_hit(session: Session, bucket: str, client: str, window: timedelta) -> int:
    """Count one hit (in the caller's transaction); the number of hits within the window, this one included."""
    now = clock.now()
    _lock(session, bucket, client)
    session.execute(delete(RateHit).where(RateHit.bucket == bucket, RateHit.at <= now - window))
    session.add(RateHit(bucket=bucket, client=client[:CLIENT_LENGTH], at=now))
    session.flush()
    return hits(session, bucket, client, window, now)


def retry_after(session: Session, bucket: str, client: str, window: timedelta) -> int:
    """Seconds until the oldest hit in the window expires (at least 1)."""
    oldest = oldest_hit(session, bucket, client, window)
    if oldest is None:
        return 1
    return max(1, int((oldest + window - clock.now()).total_seconds()) + 1)


def allow(session: Session, bucket: str, client: str, limit: int, window: timedelta) -> bool:
    """Count one request of ``client``; False (and nothing counted) when it would exceed ``limit``
    within ``window``. The caller commits the hit with its transaction."""
    now = clock.now()
    _lock(session, bucket, client)
    if hits(session, bucket, client, window, now) >= limit:
        return False
    record_hit(session, bucket, client, window)
    return True
