"""The one writer of the audit trail: every audit event, from the engine or a service, goes
through :func:`record`, so what an event holds (and how it is secured later) is decided here."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.clock import clock
from app.data.models import AuditEvent
from app.engine.codec import jsonable
from app.engine.context import Actor

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from app.data.models import HumanTask, ProcessInstance

ACTOR_LABEL_LENGTH = 120  # the column's length

__all__ = ["record"]


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

    The instance, case and element are taken from ``instance``/``task`` unless given;
    ``before``/``after`` are stored as plain JSON (dates as ISO text).
    """
    if case_id is None:
        case_id = instance.case_id if instance is not None else getattr(task, "case_id", None)
    event = AuditEvent(
        at=clock.now(),
        actor_id=actor.id,
        actor_label=actor.label[:ACTOR_LABEL_LENGTH],
        action=action,
        instance_id=instance.id if instance is not None else getattr(task, "instance_id", None),
        case_id=case_id,
        task_id=getattr(task, "id", None),
        element=element if element is not None else getattr(task, "element_id", None),
        message=message,
        data_before=jsonable(before),
        data_after=jsonable(after),
    )
    session.add(event)
    return event
