"""The early-warning rules (an admin setting, ``alerts.rules`` in ``app_setting``).

Per dimension a threshold — how many cases, the new one included, within the window make a
cluster — and a window in days; a threshold of 0 switches the dimension off. The serial
prefix dimension also needs a prefix length (0: off). Only cases of the counted feedback
types take part (praise about a model is no repeated problem).

**Matching an earlier case** — one definition for the early warning and the dashboard's repeat
rate: a case of a counted type *matches earlier cases* on a dimension when, counting the cases of
a counted type with the same key (product model; batch number; a serial number; the first
``prefix_length`` characters of a serial number longer than that) received within the rule's
window before it (at the same instant: opened before it), it reaches the rule's threshold — at
least ``threshold − 1`` earlier cases, and at least one. The early warning forms a cluster then
(:func:`app.services.alerts.evaluate`); the repeat rate counts such cases
(:func:`repeat_rules`, ``app.data.queries.analytics.repeat_condition``; stored per case by
:mod:`app.services.analytics.repeats`, all again when the rules change).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy.orm import Session

from app.data.models import AlertDimension
from app.data.queries.analytics import RULES_LOCK, RepeatRule, lock_keys, refresh_repeats
from app.data.transaction_memo import transaction_key
from app.engine.context import Actor
from app.i18n import N_
from app.services import settings
from app.services.errors import InvalidInput

KEY = "alerts.rules"
FEEDBACK_TYPES = ("consultation", "suggestion", "complaint", "praise")
MAX_THRESHOLD = 1000
MAX_WINDOW_DAYS = 3660
MAX_PREFIX_LENGTH = 60


@dataclass(frozen=True)
class Rule:
    threshold: int  # cases within the window, the new one included (0: off)
    window_days: int


@dataclass(frozen=True)
class Rules:
    model: Rule
    batch: Rule
    serial: Rule
    serial_prefix: Rule
    prefix_length: int
    types: tuple[str, ...]

    def rule(self, dimension: str) -> Rule:
        return getattr(self, dimension)  # type: ignore[no-any-return]

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["types"] = list(self.types)
        return data


DEFAULT = Rules(
    model=Rule(3, 30),  # 3 cases about one product model in 30 days
    batch=Rule(2, 90),  # 2 cases about one batch in 90 days
    serial=Rule(2, 365),  # a second case about one machine within a year (1 earlier case)
    serial_prefix=Rule(3, 90),  # off until a prefix length is set
    prefix_length=0,
    types=("complaint",),
)


def _int(value: Any, low: int, high: int, message: str) -> int:
    if isinstance(value, bool):
        raise InvalidInput(message)
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise InvalidInput(message) from None
    if not low <= number <= high:
        raise InvalidInput(message)
    return number


THRESHOLD_PROBLEM = N_("A threshold is a whole number of cases from 0 (off) to 1000.")
WINDOW_PROBLEM = N_("A window is a whole number of days from 1 to 3660.")
PREFIX_PROBLEM = N_("The serial prefix length is a whole number from 0 (off) to 60.")
TYPES_PROBLEM = N_("Choose at least one feedback type that counts.")


def parse(data: Mapping[str, Any]) -> Rules:
    """Rules from stored or submitted data (``{"model": {"threshold", "window_days"}, …,
    "prefix_length", "types"}``); raises InvalidInput naming the first problem."""
    found: dict[str, Any] = {}
    for dimension in AlertDimension.ALL:
        part = data.get(dimension) or {}
        if not isinstance(part, Mapping):
            raise InvalidInput(THRESHOLD_PROBLEM)
        found[dimension] = Rule(_int(part.get("threshold"), 0, MAX_THRESHOLD, THRESHOLD_PROBLEM),
                                _int(part.get("window_days"), 1, MAX_WINDOW_DAYS, WINDOW_PROBLEM))
    types = data.get("types")
    chosen = tuple(t for t in FEEDBACK_TYPES if isinstance(types, list | tuple) and t in types)
    if not chosen:
        raise InvalidInput(TYPES_PROBLEM)
    return Rules(**found, prefix_length=_int(data.get("prefix_length", 0), 0, MAX_PREFIX_LENGTH, PREFIX_PROBLEM),
                 types=chosen)


def earlier_needed(rule: Rule) -> int:
    """Earlier matching cases that make a case a repeat under ``rule`` (see the module's docstring)."""
    return max(rule.threshold - 1, 1)


def repeat_rules(r: Rules) -> list[RepeatRule]:
    """The switched-on dimensions of ``r`` as the repeat query takes them."""
    out = []
    for dimension in AlertDimension.ALL:
        rule = r.rule(dimension)
        prefix = r.prefix_length if dimension == AlertDimension.SERIAL_PREFIX else 0
        if rule.threshold and (dimension != AlertDimension.SERIAL_PREFIX or prefix):
            out.append(RepeatRule(dimension, earlier_needed(rule), rule.window_days, prefix))
    return out


#: ``Session.info`` key: the rules read under their shared lock in this transaction
#: (:func:`locked_rules`): no change of the rules can commit before the transaction ends
LOCKED_KEY = transaction_key("alert_rules.locked")


def rules(session: Session) -> Rules:
    """The rules in force (the defaults while none are stored, or if the stored ones are unreadable);
    those this transaction read under the rules' lock, if it did."""
    held: Rules | None = session.info.get(LOCKED_KEY)
    return held if held is not None else _stored(session)


def locked_rules(session: Session) -> Rules:
    """The rules in force, with their lock held shared until the transaction ends (a change of the
    rules waits for it, and this transaction for a change being made): what the repeat flags are
    worked out by. Remembered for the transaction."""
    lock_keys(session, [RULES_LOCK], shared=True)
    found = session.info[LOCKED_KEY] = _stored(session)
    return found


def _stored(session: Session) -> Rules:
    row = settings.setting_row(session, KEY)
    if row is None or not isinstance(row.value, Mapping):
        return DEFAULT
    try:
        return parse(row.value)
    except InvalidInput:
        return DEFAULT


def set_rules(session: Session, data: Mapping[str, Any], actor: Actor) -> Rules:
    """Validate and store the rules (audited as ``setting_changed``); cases from now on use them, and
    every case's repeat flag (``case_repeat``, the repeat rate) is worked out again under them."""
    new = parse(data)
    lock_keys(session, [RULES_LOCK])  # cases flagged meanwhile wait, then use the new rules
    old = rules(session)
    settings.change(session, KEY, new.as_json(), actor, default=DEFAULT.as_json())
    session.info.pop(LOCKED_KEY, None)  # read again from the row just written
    if new != old:
        refresh_repeats(session, None, repeat_rules(new), new.types)
    return new


__all__ = ["DEFAULT", "FEEDBACK_TYPES", "KEY", "Rule", "Rules", "earlier_needed", "locked_rules", "parse",
           "repeat_rules", "rules", "set_rules"]
