"""Who sees which figures: a :class:`ReportFilter` narrowed by the policy, and turned into the
queries' :class:`~app.data.queries.analytics.Window`."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy.orm import Session

from app.data.models import User
from app.data.queries import analytics as q
from app.i18n import N_
from app.services import policy
from app.services.analytics.filters import CASE_FILTERS, ReportFilter
from app.services.errors import InvalidInput


def scoped(session: Session, user: User, f: ReportFilter) -> ReportFilter:
    """``f`` as ``user`` may see it: Forbidden unless they may use the reports at all, or when the
    department they name is not theirs; InvalidInput for an unknown department. The result's
    ``scope`` is the set of departments the cases must concern (None: every case)."""
    policy.require(policy.may_view_analytics(user), N_("You may not see the reports."))
    department_id = None
    if f.department:
        department_id = q.department_id_of(session, f.department)
        if department_id is None:
            raise InvalidInput(N_("Unknown department."))
    policy.require(policy.may_view_analytics_department(user, department_id),
                   N_("You may see the figures of your own department only."))
    if department_id is not None:
        return replace(f, scope=frozenset({department_id}))
    return replace(f, scope=policy.analytics_scope(user))


def window(session: Session, f: ReportFilter) -> q.Window:
    """The queries' window of ``f``: its period in UTC, its equality filters and its departments."""
    departments = f.scope
    if departments is None and f.department:  # a filter not passed through scoped() (scripts)
        found = q.department_id_of(session, f.department)
        departments = frozenset({found} if found is not None else set())
    equal = tuple((name, getattr(f, name)) for name in CASE_FILTERS if name != "department" and getattr(f, name))
    return q.Window(f.start_utc, f.end_utc, equal, departments)
