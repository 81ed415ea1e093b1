"""The one writer of the audit trail: every audit event, from the engine or a service, goes
through :func:`record`, so what an event holds (and how it is secured) is decided here.

An event says who (the :class:`~app.engine.context.Actor`: user, their roles and departments at
that moment), when (UTC), from where (the :class:`Origin` of the current request or job: the
channel, the client address behind the configured proxies, the user agent), which case, task
and process version, what (``action``, ``message``) and the data before and after. It is added
to the caller's transaction and sealed into the hash chain when that commits
(:mod:`app.engine.audit_chain`). The engine imports no Flask: the web and API layers set the
origin for each request (:func:`set_origin`), the scheduler and the CLI for their jobs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, select

from app.clock import clock
from app.data.models import AuditEvent, ProcessInstance
from app.engine import audit_chain
from app.engine.codec import jsonable
from app.engine.context import Actor

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from app.data.models import HumanTask

ACTOR_LABEL_LENGTH = 120  # the column's length
USER_AGENT_LENGTH = 300
ADDRESS_LENGTH = 64
LIST_LENGTH = 400

__all__ = ["Origin", "current_origin", "origin", "record", "reset_origin", "set_origin"]


@dataclass(frozen=True)
class Origin:
    """Where the operations of the current request or job come from."""

    channel: str  # web, api, scheduler, cli, system
    address: str | None = None
    user_agent: str | None = None


SYSTEM = Origin("system")
_origin: ContextVar[Origin | None] = ContextVar("audit_origin", default=None)


def current_origin() -> Origin:
    """The origin set for the current request or job; the system when none is."""
    return _origin.get() or SYSTEM


def set_origin(value: Origin | None) -> Token[Origin | None]:
    return _origin.set(value)


def reset_origin(token: Token[Origin | None]) -> None:
    try:
        _origin.reset(token)
    except ValueError:  # set in another context (e.g. a streamed response): just clear it
        _origin.set(None)


@contextlib.contextmanager
def origin(value: Origin) -> Iterator[Origin]:
    """Run a block (a scheduler job, a CLI command) with ``value`` as the origin."""
    token = set_origin(value)
    try:
        yield value
    finally:
        reset_origin(token)


def _listed(values: tuple[str, ...]) -> str | None:
    """",a,b," — the leading and trailing commas let a filter match one whole value."""
    if not values:
        return None
    text = "," + ",".join(values) + ","
    return text if len(text) <= LIST_LENGTH else text[: LIST_LENGTH - 1] + ","


def _definition_id(session: Session, instance: ProcessInstance | None, task: HumanTask | None) -> int | None:
    """The process version the event's instance runs (read without flushing the caller's work)."""
    if instance is not None:
        return instance.definition_id
    if task is None or getattr(task, "instance_id", None) is None:
        return None
    with session.no_autoflush:
        return session.scalar(_DEFINITION_ID, {"instance_id": task.instance_id})


#: the process version an instance runs (built once)
_DEFINITION_ID = select(ProcessInstance.definition_id).where(ProcessInstance.id == bindparam("instance_id"))


def _stored(value: Any) -> Any:
    """``value`` as the database gives it back: PostgreSQL's jsonb stores a number exactly and
    prints a whole float from 1e16 on without exponent (10000000000000000), which reads back as
    an int. The chain hashes the event as inserted (:func:`app.engine.audit_chain.seal`), so
    the inserted value must already be what a verification reads."""
    if isinstance(value, float) and value.is_integer() and abs(value) >= 1e16:
        return int(value)
    if isinstance(value, dict):
        return {k: _stored(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_stored(v) for v in value]
    return value


def record(
    session: Session,
    *,
    actor: Actor,
    action: str,
    message: str | None = None,
    instance: ProcessInstance | None = None,
    case_id: int | None = None,
    task: HumanTask | None = None,
    element: str | None = None,
    before: Any = None,
    after: Any = None,
) -> AuditEvent:
    """Add an audit event for ``actor`` to the session (the caller's transaction).

    The instance, process version, case and element are taken from ``instance``/``task``
    unless given; ``before``/``after`` are stored as plain JSON (dates as ISO text).
    """
    if case_id is None:
        case_id = instance.case_id if instance is not None else getattr(task, "case_id", None)
    where = current_origin()
    event = AuditEvent(
        at=clock.now(),
        actor_id=actor.id,
        actor_label=actor.label[:ACTOR_LABEL_LENGTH],
        actor_roles=_listed(actor.roles),
        actor_departments=_listed(actor.departments),
        channel=where.channel,
        client_address=(where.address or None) and where.address[:ADDRESS_LENGTH],
        user_agent=(where.user_agent or None) and where.user_agent[:USER_AGENT_LENGTH],
        action=action,
        instance_id=instance.id if instance is not None else getattr(task, "instance_id", None),
        definition_id=_definition_id(session, instance, task),
        case_id=case_id,
        task_id=getattr(task, "id", None),
        element=element if element is not None else getattr(task, "element_id", None),
        message=message,
        data_before=_stored(jsonable(before)),
        data_after=_stored(jsonable(after)),
    )
    session.add(event)
    audit_chain.remember(session, event)
    return event
