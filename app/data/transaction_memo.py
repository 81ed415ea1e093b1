"""What an operation remembers for the length of its transaction, in ``Session.info``: each
key named here is forgotten when the whole transaction ends (commit or rollback; not a savepoint),
so nothing read in one operation is trusted in the next."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

_KEYS: set[str] = set()


def transaction_key(name: str) -> str:
    """Register ``name`` as a ``Session.info`` key forgotten at the end of each transaction."""
    _KEYS.add(name)
    return name


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction: Any) -> None:
    if transaction.parent is None:  # the whole transaction, not a savepoint
        for key in _KEYS:
            session.info.pop(key, None)
