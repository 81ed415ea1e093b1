"""Starting a process by hand: the one use case behind the API's generic start, the week's
assessment on /assessments and ``POST /api/v1/assessments``.

A process may be started by hand only when its start event says so (``manualStart``: who may,
decided by :func:`app.services.policy.may_start_by_hand`), with data validated by its start form
(``startForm``, :mod:`app.formkit`: unknown names are errors, so nothing the form does not ask for
reaches the process). Processes the application starts itself — a case's process when the case is
opened, scheduled starts, message starts — have no ``manualStart`` and are refused here.

Some processes take start data the server computes: for them the validated form data goes to
their own starter (:data:`STARTERS`, e.g. the weekly assessment computes its week's rows from the
indexed tasks) instead of straight into the process. Callers own the transaction: commit when the
result is ``ok``, roll back otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.clock import clock
from app.data.models import FormDefinition, HumanTask, ProcessDefinition, ProcessInstance, User
from app.data.transaction_memo import transaction_key
from app.engine.context import Actor
from app.engine.definitions.lookup import (
    ManualStart,
    latest_definition,
    latest_form,
    load_spec,
    manual_start,
    start_message,
)
from app.engine.errors import NotFound
from app.engine.runtime import WorkflowRuntime
from app.formkit.build import validate
from app.i18n import N_
from app.services import policy, weekly
from app.services.choices import DatabaseChoices
from app.services.errors import Forbidden, InvalidInput
from app.services.forms import NO_FORM
from app.services.tasks import actor_for

#: (session, runtime, validated start data, actor, now, lateness basis) → (instance, created)
Starter = Callable[[Session, WorkflowRuntime, dict[str, Any], Actor, datetime, str], tuple[ProcessInstance, bool]]

#: processes whose start data the server computes from what the start form gives
STARTERS: dict[str, Starter] = {weekly.PROCESS_KEY: weekly.start_from_form}


@dataclass(frozen=True)
class StartPlan:
    """What starting ``definition`` by hand takes: who may (``rule``) and the start form."""

    definition: ProcessDefinition
    rule: ManualStart
    form: dict[str, Any]


@dataclass
class Started:
    """The outcome: the instance (``created`` False when an idempotent start found it already
    there), or the errors per field (catalogue msgids or texts in the caller's language) with the
    bound form to show them on."""

    plan: StartPlan
    instance: ProcessInstance | None = None
    created: bool = False
    errors: dict[str, list[str]] = field(default_factory=dict)
    form: Any = None
    #: the new instance's open tasks (None when no instance was created)
    open_tasks: list[HumanTask] | None = None

    @property
    def ok(self) -> bool:
        return not self.errors


def _start_form(session: Session, definition: ProcessDefinition, key: str | None) -> dict[str, Any]:
    """The start form version deployed with ``definition`` (else the latest of its key)."""
    if key is None:
        return NO_FORM
    form_id = (definition.forms or {}).get(key)
    row = session.get(FormDefinition, form_id) if form_id else latest_form(session, key)
    if row is None:
        raise NotFound(N_("The start form of this process does not exist."))
    return row.content


#: ``Session.info`` key: the plans :func:`plan` found in this transaction, by process key (an
#: entry point authorizes before it reads its input, then starts: one look-up, not two)
PLANS_KEY = transaction_key("starts.plans")


def plan(session: Session, key: str) -> StartPlan | None:
    """How the live version of process ``key`` is started by hand; None when it is not (NotFound
    when it is not deployed). Remembered for the transaction."""
    plans: dict[str, StartPlan | None] = session.info.setdefault(PLANS_KEY, {})
    if key in plans:
        return plans[key]
    definition = latest_definition(session, key) if len(key) <= 100 else None
    if definition is None:
        raise NotFound(N_("The process is not deployed."))
    rule = manual_start(load_spec(session, definition).spec)
    found = StartPlan(definition, rule, _start_form(session, definition, rule.form_key)) if rule is not None else None
    plans[key] = found
    return found


def plan_for(session: Session, user: User, key: str) -> StartPlan | None:
    """The plan when ``user`` may start process ``key`` by hand, else None (e.g. to show the button)."""
    try:
        found = plan(session, key)
    except NotFound:
        return None
    return found if found is not None and policy.may_start_by_hand(user, found.rule.who) else None


def authorize(session: Session, user: User, key: str) -> StartPlan:
    """The plan, when ``user`` may start process ``key`` by hand; NotFound or Forbidden saying why.
    Entry points call it before reading any input."""
    found = plan(session, key)
    if found is None:
        definition = latest_definition(session, key)
        if definition is not None and start_message(load_spec(session, definition).spec) is not None:
            raise Forbidden(N_("This process is started by a message from another process; "
                               "it cannot be started by hand."))
        raise Forbidden(N_("This process is not started by hand: the application starts it."))
    policy.require(policy.may_start_by_hand(user, found.rule.who),
                   N_("Only the people this process's diagram names may start it by hand."))
    return found


def start_by_hand(
    session: Session,
    runtime: WorkflowRuntime,
    user: User,
    key: str,
    *,
    data: Any = None,
    formdata: Any = None,
    locale: str = "zh",
    lateness_basis: str = "working",
) -> Started:
    """Start the live version of process ``key`` as ``user`` with ``data`` (JSON) or ``formdata``
    (an HTML form's MultiDict), validated by its start form.

    Raises NotFound and Forbidden (nothing is validated then); an invalid start returns its errors
    and starts nothing. ``lateness_basis`` is the ``ESCALATION_LATENESS_DAYS`` setting, for the
    starters that assess lateness.
    """
    found = authorize(session, user, key)
    if formdata is None and data is None:
        data = {}
    validation = validate(found.form, locale, DatabaseChoices(session), data=data, formdata=formdata)
    result = Started(found, errors=validation.errors, form=validation.form)
    if not result.ok:
        return result
    actor = actor_for(user)
    starter = STARTERS.get(found.definition.key)
    try:
        if starter is not None:
            result.instance, result.created = starter(session, runtime, validation.data, actor, clock.now(),
                                                      lateness_basis)
        else:
            result.instance = runtime.start(session, found.definition.key, validation.data, actor,
                                            definition=found.definition)
            result.created = True
            result.open_tasks = runtime.open_tasks_after(session, result.instance.id)
    except InvalidInput as exc:
        name = exc.details.get("field")
        if not isinstance(name, str):
            raise
        result.errors = {name: [exc.message]}
    return result


__all__ = ["STARTERS", "StartPlan", "Started", "authorize", "plan", "plan_for", "start_by_hand"]
