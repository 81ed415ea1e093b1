"""Files a form received on a try that came back with errors: stored at once and kept with a
token (in a hidden field) for their owner (a user, or a customer's browser session), shown
again as received, and used when the form is sent again — so no chosen file is lost."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.clock import clock
from app.data.models import PendingUpload

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
#: how long received files wait for the form to be sent again
KEEP = timedelta(days=1)


def new_token() -> str:
    return secrets.token_urlsafe(24)


def valid_token(token: str | None) -> str | None:
    return token if token and TOKEN_RE.match(token) else None


def received(session: Session, token: str, owner: str) -> dict[str, list[PendingUpload]]:
    """The files received under ``token`` for ``owner``, by field."""
    rows = session.scalars(
        select(PendingUpload).where(PendingUpload.token == token, PendingUpload.owner == owner)
        .order_by(PendingUpload.id)
    ).all()
    found: dict[str, list[PendingUpload]] = {}
    for row in rows:
        found.setdefault(row.field, []).append(row)
    return found


def files_of(rows: dict[str, list[PendingUpload]]) -> dict[str, list[dict[str, Any]]]:
    """The received files by field, as task data describes files."""
    return {name: [dict(row.file) for row in items] for name, items in rows.items()}


def keep(session: Session, token: str, owner: str, field: str, stored: dict[str, Any]) -> PendingUpload:
    """Remember a stored file for the form sent with ``token``; old leftovers are cleaned up."""
    session.execute(delete(PendingUpload).where(PendingUpload.created_at < clock.now() - KEEP))
    row = PendingUpload(token=token, owner=owner[:80], field=field[:63], file=stored, created_at=clock.now())
    session.add(row)
    session.flush()
    return row


def remove(session: Session, token: str, owner: str, ids: Iterable[int]) -> None:
    """The user removed these received files (only their own, under this token)."""
    wanted = [i for i in ids if isinstance(i, int)]
    if wanted:
        session.execute(delete(PendingUpload).where(
            PendingUpload.token == token, PendingUpload.owner == owner, PendingUpload.id.in_(wanted)))


def used(session: Session, token: str, owner: str) -> None:
    """The form went through with its received files: forget them."""
    session.execute(delete(PendingUpload).where(PendingUpload.token == token, PendingUpload.owner == owner))
