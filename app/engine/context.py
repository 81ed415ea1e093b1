"""Who triggers an engine operation and what it changed: handed to the runtime's hooks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from SpiffWorkflow.bpmn import BpmnWorkflow
    from sqlalchemy.orm import Session

    from app.data.models import HumanTask, ProcessInstance


@dataclass(frozen=True)
class Actor:
    """Who triggers an operation: a user, or the system (timers, integrations). ``roles`` and
    ``departments`` are the user's at that moment, as the audit trail keeps them (roles include
    ``head:<department code>`` for each department the user heads)."""

    id: int | None
    label: str
    roles: tuple[str, ...] = ()
    departments: tuple[str, ...] = ()

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        return cls(None, label)


@dataclass
class RunContext:
    """What one operation changed; handed to hooks after the save."""

    actor: Actor
    action: str
    opened: list[HumanTask] = field(default_factory=list)
    closed: list[HumanTask] = field(default_factory=list)
    incident: str | None = None
    chain: int = 0  # how many message starts led to this operation
    #: rows the operation read that its hooks read again (e.g. the case): held here because the
    #: session holds rows only weakly, so ``session.get`` finds them instead of a new SELECT
    loaded: list[Any] = field(default_factory=list)
    #: whether the instance had a pending timer (a running instance with a next due time) before
    #: the operation; None when unknown
    had_timer: bool | None = None
    #: the instance's open human tasks after the projection (None until it ran)
    open_rows: list[HumanTask] | None = None
    #: the instance's human-task rows read (fresh, under the instance lock) before the engine ran:
    #: every open one and the task completed, by id; None when the operation read none
    prefetched: dict[str, HumanTask] | None = None
    #: the state of every task of the workflow (by UUID) before the engine ran, with ``prefetched``
    states_before: dict[Any, int] | None = None
    #: what the projection read with the instance's case (None when it did not read the case)
    case_facts: CaseFacts | None = None


@dataclass(frozen=True)
class CaseFacts:
    """Read with a case row in the same statement: the case's first process instance (its own
    process) and the open human tasks of its other instances."""

    first_instance_id: int | None
    #: the open human tasks of the case's other instances, as (created_at, title)
    others_open: tuple[tuple[datetime, str], ...]
    #: the case's rows of the models read with it (held: the session holds rows only weakly)
    companions: tuple[Any, ...] = ()


Hook = Callable[["Session", "ProcessInstance", "BpmnWorkflow", RunContext], None]
