"""The repeat flags behind the repeat rate: whether a case matches earlier cases as the early warning
defines it (:mod:`app.services.alert_rules`), stored per case in ``case_repeat`` so that a report
counts rows of its period instead of matching a year of cases against their windows.

A case's flag does not depend on the report period: only on its own type, keys and receipt, on the
earlier cases sharing one of its keys within the rule's window, and on the rules. It is worked out
again, in the transaction that changes one of these:

- :func:`refresh_case` — when the analytics hook writes a case's match keys (at intake, or when its
  product model, batch, serial numbers or feedback type changed): for the case and for the cases
  received after it within the longest window that share one of its old or new keys (they may have
  gained or lost an earlier match). Never on an ordinary task completion: the keys did not change.
- every case, when an admin changes the rules (:func:`app.services.alert_rules.set_rules`, one
  set-based statement).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from app.data.models import AlertDimension, Case
from app.data.queries import analytics as q
from app.services import alert_rules, alerts


def refresh_case(session: Session, case: Case, keys: Collection[tuple[str, str]], since: datetime) -> None:
    """Work out again the flags of ``case`` and of the later cases its ``keys`` (old and new
    ``case_match_key`` pairs) may concern, from ``since`` (its earliest receipt) on."""
    rules = alert_rules.locked_rules(session)  # rules being changed: after they are, by them
    on = alert_rules.repeat_rules(rules)
    if not on:
        q.refresh_repeats(session, q.sharing_keys(case.id, since, since, (), ()), on, rules.types)
        return
    enabled = {rule.dimension for rule in on}
    matched = {(kind, value) for kind, value in keys if kind in enabled}
    serials = sorted({value for kind, value in keys if kind == "serial"})
    length = rules.prefix_length if AlertDimension.SERIAL_PREFIX in enabled else 0
    prefixes = sorted({s[:length] for s in serials if len(s) > length}) if length else []
    alerts.lock_keys(session, [*matched, *((AlertDimension.SERIAL_PREFIX, p) for p in prefixes)])
    until = since + timedelta(days=max(rule.window_days for rule in on))
    q.refresh_repeats(session, q.sharing_keys(case.id, since, until, matched, prefixes), on, rules.types)

