"""Early warning on repeated problems.

When a case is opened (or reclassified while Marketing verifies it, or its model, batch or serial
numbers are corrected: :func:`reproject`), :func:`evaluate` first takes it out of the clusters it
no longer matches, then matches it against earlier cases on the product model, the batch, each
serial number and, when configured, each serial prefix — indexed queries, in the caller's
transaction. A cluster (dimension, key) forms when the rule's threshold is reached within its
window: Quality is alerted once (in-app and by e-mail through the outbox), and later matching
cases join the cluster, which grows without a second alert. Quality acknowledges a cluster
with a note and links it to the case that deals with it. Every change is audited.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.clock import clock
from app.data.models import (
    AlertDimension,
    AlertStatus,
    Case,
    CaseSerial,
    Department,
    RepeatCluster,
    RepeatClusterCase,
    User,
)
from app.data.models.notifications import NotificationKind
from app.data.queries import alerts as queries
from app.data.queries import analytics as analytics_queries
from app.engine import audit
from app.engine.context import Actor
from app.engine.errors import NotFound
from app.i18n import N_
from app.services import accounts, alert_rules, notifications, policy
from app.services.alert_rules import Rules
from app.services.errors import InvalidInput

log = logging.getLogger(__name__)

RAISED, JOINED, ACKNOWLEDGED, LINKED = "alert_raised", "alert_case_joined", "alert_acknowledged", "alert_linked"
LEFT = "alert_case_left"
QUALITY = "quality"
_SEPARATORS = re.compile(r"[\s,;，；、]+")
SERIAL_LENGTH = 120
BATCH_LENGTH = 80
NOTE_LENGTH = 2000


# ---------------------------------------------------------------------------- intake projection


def split_serials(value: Any) -> list[str]:
    """The serial numbers of an intake's text (one per line, or separated by commas, semicolons
    or spaces), upper-cased, without repeats."""
    found: list[str] = []
    for part in _SEPARATORS.split(str(value or "")):
        serial = part.strip().upper()[:SERIAL_LENGTH]
        if serial and serial not in found:
            found.append(serial)
    return found


def batch_number(value: Any) -> str | None:
    """The batch / lot number as stored (trimmed, upper-cased: "b-2411" and "B-2411" are one batch)."""
    batch = " ".join(str(value or "").split()).upper()[:BATCH_LENGTH]
    return batch or None


def project_intake(session: Session, case: Case) -> None:
    """Copy the intake's batch number and serial numbers into their indexed columns and rows."""
    case.batch_no = batch_number(case.batch_no)
    case.product_model = (case.product_model or "").strip() or None
    session.flush()
    session.execute(delete(CaseSerial).where(CaseSerial.case_id == case.id))
    for serial in split_serials(case.serial_numbers):
        session.add(CaseSerial(case_id=case.id, serial=serial))
    session.flush()


# ---------------------------------------------------------------------------- matching


def case_keys(session: Session, case: Case, rules: Rules, serials: list[str] | None = None) -> list[tuple[str, str]]:
    """(dimension, key) pairs of ``case`` under the enabled rules (``serials``: the case's, if
    already read)."""
    keys: list[tuple[str, str]] = []
    if case.product_model and rules.model.threshold:
        keys.append((AlertDimension.MODEL, case.product_model))
    if case.batch_no and rules.batch.threshold:
        keys.append((AlertDimension.BATCH, case.batch_no))
    if serials is None:
        serials = queries.case_serials(session, case.id)
    if rules.serial.threshold:
        keys += [(AlertDimension.SERIAL, serial) for serial in serials]
    length = rules.prefix_length
    if length and rules.serial_prefix.threshold:
        prefixes = dict.fromkeys(serial[:length] for serial in serials if len(serial) > length)
        keys += [(AlertDimension.SERIAL_PREFIX, prefix) for prefix in prefixes]
    return keys


#: the order in which every transaction takes the early warning's key locks (two transactions
#: taking two keys in opposite orders could deadlock)
LOCK_ORDER = (AlertDimension.MODEL, AlertDimension.BATCH, AlertDimension.SERIAL, AlertDimension.SERIAL_PREFIX)


def lock_keys(session: Session, pairs: Iterable[tuple[str, str]]) -> None:
    """Serialize the work on each (dimension, key), so concurrent cases make one cluster and see
    each other's flags: advisory transaction locks on PostgreSQL, all in one statement, in
    :data:`LOCK_ORDER` and then by key (SQLite writes one transaction at a time)."""
    ordered = sorted(set(pairs), key=lambda pair: (LOCK_ORDER.index(pair[0]), pair[1]))
    analytics_queries.lock_keys(session, [f"alert:{dimension}:{key}" for dimension, key in ordered])


def still_matches(case: Case, serials: list[str], cluster: RepeatCluster, types: tuple[str, ...]) -> bool:
    """Whether ``case`` (with its current ``serials``) still belongs to ``cluster``: of a counted type
    and still having the cluster's key on its dimension (whatever the rules switched on since)."""
    if case.feedback_type not in types:
        return False
    if cluster.dimension == AlertDimension.MODEL:
        return case.product_model == cluster.key
    if cluster.dimension == AlertDimension.BATCH:
        return case.batch_no == cluster.key
    if cluster.dimension == AlertDimension.SERIAL:
        return cluster.key in serials
    return any(len(s) > len(cluster.key) and s.startswith(cluster.key) for s in serials)


def _leave_stale(session: Session, case: Case, serials: list[str], rules: Rules,
                 actor: Actor) -> set[tuple[str, str]]:
    """Take ``case`` out of the clusters it no longer matches (reclassified to a type that does not
    count, or its model, batch or serial numbers corrected); the (dimension, key) of the clusters
    it stays in. (Only this case's own evaluation adds it to a cluster, and it runs in the
    transaction that opens or changes the case: what is read here holds until it ends.)"""
    stays = set()
    for cluster in queries.clusters_of_case(session, case.id):
        if still_matches(case, serials, cluster, rules.types):
            stays.add((cluster.dimension, cluster.key))
        else:
            _leave(session, cluster, case, actor)
    return stays


def _leave(session: Session, cluster: RepeatCluster, case: Case, actor: Actor) -> None:
    """The case leaves the cluster: its count, first and latest case follow the cases that remain
    (a cluster left with fewer cases than its threshold stays listed, so Quality sees it shrink)."""
    before = cluster.case_count
    session.execute(delete(RepeatClusterCase).where(RepeatClusterCase.cluster_id == cluster.id,
                                                    RepeatClusterCase.case_id == case.id))
    remaining = [c for c, _joined in queries.cluster_cases(session, cluster.id)]
    cluster.case_count = len(remaining)
    if remaining:
        cluster.first_case_id, cluster.first_at = remaining[0].id, remaining[0].received_at
        cluster.last_case_id, cluster.last_at = remaining[-1].id, remaining[-1].received_at
    else:
        cluster.first_case_id = cluster.last_case_id = None
    session.flush()
    audit.record(session, actor=actor, action=LEFT, case_id=case.id, element=f"alert:{cluster.id}",
                 message=f"{cluster.dimension} {cluster.key}",
                 before={"case_count": before}, after={"case_count": cluster.case_count, "case": case.number})


def reproject(session: Session, case: Case, actor: Actor) -> list[RepeatCluster]:
    """After the case's product model, batch or serial numbers changed: project them again, leave
    the clusters it no longer matches and join or form the ones it now does."""
    project_intake(session, case)
    return evaluate(session, case, actor)


def evaluate(session: Session, case: Case, actor: Actor) -> list[RepeatCluster]:
    """Leave the clusters ``case`` no longer matches, then match it against earlier cases: join or
    form clusters. Returns the clusters formed now (each alerted). Calling it again for the same
    case changes nothing."""
    rules = alert_rules.rules(session)
    serials = queries.case_serials(session, case.id)
    stays = _leave_stale(session, case, serials, rules, actor)
    if case.feedback_type not in rules.types:
        return []
    # every key's lock in one statement, then every key's active cluster in one read (a key at a
    # time was five statements per key)
    todo = [pair for pair in case_keys(session, case, rules, serials) if pair not in stays]
    lock_keys(session, todo)
    since = {dimension: case.received_at - timedelta(days=rules.rule(dimension).window_days) for dimension, _k in todo}
    active = queries.active_clusters(session, todo, since)
    formed = []
    for dimension, key in todo:
        cluster = active.get((dimension, key))
        if cluster is not None:
            _join(session, cluster, case, actor)
            continue
        rule = rules.rule(dimension)
        earlier = queries.earlier_matches(session, dimension, key, case, since[dimension], rules.types)
        if len(earlier) + 1 >= rule.threshold:
            formed.append(_form(session, dimension, key, rule, [*earlier, case], actor))
    return formed  # the joins' rows go with the operation's next flush, together


def _add(session: Session, cluster: RepeatCluster, cases: Iterable[Case]) -> None:
    """The cases join ``cluster`` (written with the operation's next flush)."""
    now = clock.now()
    for case in cases:
        session.add(RepeatClusterCase(cluster_id=cluster.id, case_id=case.id, joined_at=now))
        cluster.case_count = (cluster.case_count or 0) + 1
        if case.received_at >= cluster.last_at:
            cluster.last_at, cluster.last_case_id = case.received_at, case.id


def _form(session: Session, dimension: str, key: str, rule: alert_rules.Rule, cases: list[Case],
          actor: Actor) -> RepeatCluster:
    first, last = cases[0], cases[-1]
    cluster = RepeatCluster(
        dimension=dimension, key=key, status=AlertStatus.OPEN, threshold=rule.threshold,
        window_days=rule.window_days, case_count=0, first_case_id=first.id, last_case_id=last.id,
        first_at=first.received_at, last_at=first.received_at, alerted_at=clock.now(),
    )
    session.add(cluster)
    session.flush()
    _add(session, cluster, cases)
    audit.record(session, actor=actor, action=RAISED, case_id=last.id, element=f"alert:{cluster.id}",
                 message=f"{dimension} {key}",
                 after={"alert": cluster.id, "dimension": dimension, "key": key, "cases": [c.number for c in cases],
                        "threshold": rule.threshold, "window_days": rule.window_days})
    _alert_quality(session, cluster, last)
    return cluster


def _join(session: Session, cluster: RepeatCluster, case: Case, actor: Actor) -> None:
    before = cluster.case_count
    _add(session, cluster, [case])
    audit.record(session, actor=actor, action=JOINED, case_id=case.id, element=f"alert:{cluster.id}",
                 message=f"{cluster.dimension} {cluster.key}",
                 before={"case_count": before}, after={"case_count": cluster.case_count, "case": case.number})


def quality_staff(session: Session) -> list[User]:
    """Who is alerted: the members of Quality and the quality engineers."""
    department_id = session.scalar(select(Department.id).where(Department.code == QUALITY))
    return [*notifications.department_members(session, department_id),
            *notifications.users_with_role(session, "quality_engineer")]


def alert_link(cluster_id: int) -> str:
    from flask import current_app, has_app_context

    base = str(current_app.config.get("BASE_URL") or "").rstrip("/") if has_app_context() else ""
    return f"{base}/alerts/{cluster_id}"


def _alert_quality(session: Session, cluster: RepeatCluster, case: Case) -> None:
    """The one alert of a cluster; a notification problem never stops the case (a SAVEPOINT)."""
    params = {"alert_id": cluster.id, "dimension": cluster.dimension, "key": cluster.key,
              "count": cluster.case_count, "window_days": cluster.window_days, "case_number": case.number,
              "customer_name": case.customer_name}
    try:
        with session.begin_nested():
            notifications.notify_users(session, quality_staff(session), NotificationKind.REPEAT_ALERT, params,
                                       alert_link(cluster.id), case_id=case.id, case_number=case.number)
    except Exception:  # noqa: BLE001 - the alert row stays; only its notification is lost (logged)
        log.exception("notifying Quality about alert %s failed", cluster.id)


# ---------------------------------------------------------------------------- Quality's actions


def get_cluster(session: Session, cluster_id: int) -> RepeatCluster:
    cluster = session.get(RepeatCluster, cluster_id)
    if cluster is None:
        raise NotFound(N_("Alert not found."))
    return cluster


def acknowledge(session: Session, user: User, cluster_id: int, note: str) -> RepeatCluster:
    """Quality confirms it has seen the cluster and says what it does about it (a note is required)."""
    policy.require(policy.may_handle_alerts(user), N_("Only Quality may acknowledge alerts."))
    cluster = get_cluster(session, cluster_id)
    note = (note or "").strip()
    if not note:
        raise InvalidInput(N_("Say in a note what is done about the alert."))
    if len(note) > NOTE_LENGTH:
        raise InvalidInput(N_("The note is too long (at most 2000 characters)."))
    before = {"status": cluster.status, "note": cluster.note}
    cluster.status = AlertStatus.ACKNOWLEDGED
    cluster.note = note
    cluster.acknowledged_at = clock.now()
    cluster.acknowledged_by_id = user.id
    audit.record(session, actor=accounts.actor(user), action=ACKNOWLEDGED, case_id=cluster.last_case_id,
                 element=f"alert:{cluster.id}", message=note, before=before,
                 after={"status": cluster.status, "note": note})
    return cluster


def link_case(session: Session, user: User, cluster_id: int, case_number: str) -> RepeatCluster:
    """Link the cluster to the case that deals with it (by case number; empty: remove the link)."""
    policy.require(policy.may_handle_alerts(user), N_("Only Quality may link alerts to cases."))
    cluster = get_cluster(session, cluster_id)
    number = (case_number or "").strip().upper()
    linked = None
    if number:
        linked = session.scalars(select(Case).where(Case.number == number[:32])).first()
        if linked is None:
            raise InvalidInput(N_("There is no case with this number."))
    before = queries.case_refs(session, [cluster.linked_case_id]).get(cluster.linked_case_id or 0)
    cluster.linked_case_id = linked.id if linked else None
    audit.record(session, actor=accounts.actor(user), action=LINKED, case_id=linked.id if linked else None,
                 element=f"alert:{cluster.id}", message=number or None,
                 before={"linked_case": before.number if before else None},
                 after={"linked_case": linked.number if linked else None})
    return cluster


# ---------------------------------------------------------------------------- reading


def matches_earlier(session: Session, case: Case) -> list[tuple[str, str]]:
    """The (dimension, key) pairs on which ``case`` matches earlier cases under the rules in force
    (the definition in :mod:`app.services.alert_rules`; the repeat rate counts the same cases)."""
    rules = alert_rules.rules(session)
    if case.feedback_type not in rules.types:
        return []
    found = []
    for dimension, key in case_keys(session, case, rules):
        rule = rules.rule(dimension)
        since = case.received_at - timedelta(days=rule.window_days)
        needed = alert_rules.earlier_needed(rule)
        if len(queries.earlier_matches(session, dimension, key, case, since, rules.types, needed)) >= needed:
            found.append((dimension, key))
    return found

RELATED_LIMIT = 20


def related(session: Session, case: Case) -> list[dict[str, Any]]:
    """Earlier cases matching ``case`` per dimension under the rules in force (each within its
    rule's window before the case, of the counted feedback types, the oldest first, at most
    RELATED_LIMIT per dimension): ``[{"dimension", "key", "window_days", "cases"}]``."""
    rules = alert_rules.rules(session)
    groups = []
    for dimension, key in case_keys(session, case, rules):
        rule = rules.rule(dimension)
        since = case.received_at - timedelta(days=rule.window_days)
        earlier = queries.earlier_matches(session, dimension, key, case, since, rules.types, RELATED_LIMIT)
        if earlier:
            groups.append({"dimension": dimension, "key": key, "window_days": rule.window_days,
                           "cases": list(earlier)})
    return groups
