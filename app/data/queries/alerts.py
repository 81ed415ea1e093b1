"""Read side of the early warning: cases matching on a dimension within a window, clusters and
their cases. Every query reads indexed columns (``feedback_case.product_model``/``batch_no``,
``case_serial.serial``, ``repeat_cluster``); none loads a workflow."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, and_, func, or_, select, tuple_
from sqlalchemy.orm import Session

from app.data.models import AlertDimension, Case, CaseSerial, HumanTask, RepeatCluster, RepeatClusterCase


def _prefix_end(prefix: str) -> str:
    """The smallest string above every string starting with ``prefix`` (an index range scan)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def matching_cases(dimension: str, key: str) -> Select:
    """Cases whose ``dimension`` has the value ``key`` (a serial prefix: any serial starting with it)."""
    stmt = select(Case)
    if dimension == AlertDimension.MODEL:
        return stmt.where(Case.product_model == key)
    if dimension == AlertDimension.BATCH:
        return stmt.where(Case.batch_no == key)
    serials = select(CaseSerial.case_id)
    if dimension == AlertDimension.SERIAL:
        serials = serials.where(CaseSerial.serial == key)
    else:  # serial prefix: a range on the index, then the exact test (collations may order differently)
        serials = serials.where(CaseSerial.serial >= key, CaseSerial.serial < _prefix_end(key),
                                func.substr(CaseSerial.serial, 1, len(key)) == key)
    return stmt.where(Case.id.in_(serials))


def earlier_matches(session: Session, dimension: str, key: str, case: Case, since: datetime,
                    types: Collection[str], limit: int | None = None) -> Sequence[Case]:
    """Cases of ``types`` matching ``case`` on ``dimension`` received from ``since`` up to it
    (at the same instant: those opened before it), oldest first."""
    stmt = (matching_cases(dimension, key)
            .where(Case.received_at >= since, Case.feedback_type.in_(list(types)),
                   or_(Case.received_at < case.received_at,
                       and_(Case.received_at == case.received_at, Case.id < case.id)))
            .order_by(Case.received_at, Case.id))
    return session.scalars(stmt.limit(limit) if limit else stmt).all()


def active_clusters(session: Session, pairs: Sequence[tuple[str, str]],
                    since: Mapping[str, datetime]) -> dict[tuple[str, str], RepeatCluster]:
    """For each (dimension, key) of ``pairs``: its cluster whose latest case arrived at or after
    ``since[dimension]`` (the latest such), in one read."""
    if not pairs:
        return {}
    found: dict[tuple[str, str], RepeatCluster] = {}
    for cluster in session.scalars(
        select(RepeatCluster)
        .where(tuple_(RepeatCluster.dimension, RepeatCluster.key).in_(list(pairs)),
               RepeatCluster.last_at >= min(since[dimension] for dimension, _key in pairs))
        .order_by(RepeatCluster.last_at.desc(), RepeatCluster.id.desc())
    ):
        if cluster.last_at >= since[cluster.dimension]:
            found.setdefault((cluster.dimension, cluster.key), cluster)
    return found


def clusters_query(status: str | None = None, dimension: str | None = None) -> Select:
    """Clusters, the latest activity first."""
    stmt = select(RepeatCluster)
    if status:
        stmt = stmt.where(RepeatCluster.status == status)
    if dimension:
        stmt = stmt.where(RepeatCluster.dimension == dimension)
    return stmt.order_by(RepeatCluster.last_at.desc(), RepeatCluster.id.desc())


def cluster_cases(session: Session, cluster_id: int) -> Sequence[tuple[Case, datetime]]:
    """The cases of a cluster with when each joined, in the order they were received."""
    return session.execute(  # type: ignore[return-value]  # rows are (Case, datetime) tuples
        select(Case, RepeatClusterCase.joined_at)
        .join(RepeatClusterCase, RepeatClusterCase.case_id == Case.id)
        .where(RepeatClusterCase.cluster_id == cluster_id)
        .order_by(Case.received_at, Case.id)
    ).all()


def clusters_of_case(session: Session, case_id: int) -> Sequence[RepeatCluster]:
    return session.scalars(
        select(RepeatCluster).join(RepeatClusterCase, RepeatClusterCase.cluster_id == RepeatCluster.id)
        .where(RepeatClusterCase.case_id == case_id).order_by(RepeatCluster.id)
    ).all()


def case_serials(session: Session, case_id: int) -> list[str]:
    return list(session.scalars(select(CaseSerial.serial).where(CaseSerial.case_id == case_id)
                                .order_by(CaseSerial.serial)))


def visible_to_departments(case_ids: Collection[int], department_ids: Collection[int]) -> Select:
    """Of ``case_ids``, those where one of ``department_ids`` has (or had) a task."""
    return select(HumanTask.case_id).where(HumanTask.case_id.in_(list(case_ids)),
                                           HumanTask.department_id.in_(list(department_ids) or [-1])).distinct()


@dataclass(frozen=True)
class CaseRef:
    id: int
    number: str


def case_refs(session: Session, case_ids: Collection[int | None]) -> dict[int, CaseRef]:
    ids = [i for i in case_ids if i is not None]
    if not ids:
        return {}
    return {row.id: CaseRef(row.id, row.number) for row in session.execute(
        select(Case.id, Case.number).where(Case.id.in_(ids)))}


def cluster_case_numbers(session: Session, cluster_ids: Collection[int]) -> dict[int, list[str]]:
    """The case numbers of each cluster, oldest first (one query for a page of clusters)."""
    found: dict[int, list[str]] = {cluster_id: [] for cluster_id in cluster_ids}
    if not found:
        return found
    for cluster_id, number in session.execute(
        select(RepeatClusterCase.cluster_id, Case.number).join(Case, Case.id == RepeatClusterCase.case_id)
        .where(RepeatClusterCase.cluster_id.in_(list(found))).order_by(Case.received_at, Case.id)
    ):
        found[cluster_id].append(number)
    return found
