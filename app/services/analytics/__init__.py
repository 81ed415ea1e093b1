"""The analysis behind the dashboard, the report API and the printed management report.

Stable entry points (other modules build on them):

- :func:`~app.services.analytics.filters.parse_filter` — request parameters → a frozen
  :class:`~app.services.analytics.filters.ReportFilter` (period, previous period, filters);
- :func:`~app.services.analytics.scope.scoped` — the filter as the user may see it (policy);
- :data:`~app.services.analytics.metrics.METRICS` and one function per metric
  (``volumes``, ``pareto_causes``, ``pareto_models``, ``cycle_times``, ``on_time``, ``ageing``,
  ``satisfaction``, ``costs``, ``repeat_rate``), each ``(session, filter, labels) -> dict`` of
  plain data with a ``table`` for downloads; :func:`compute` runs one by name;
- :class:`~app.services.analytics.naming.Labels` — names of keys in the reader's language;
- :func:`~app.services.analytics.drill.drill` — the cases behind a chart's bar or slice;
- :mod:`~app.services.analytics.export` — a metric's table as Excel or CSV;
- :func:`~app.services.analytics.projection.analytics_hook` — the runtime hook that projects
  root causes, repeat keys and assessment lines into their tables.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.data.models import User
from app.data.queries.analytics import no_jit
from app.engine.errors import NotFound
from app.i18n import N_
from app.services import policy
from app.services.analytics.filters import PERIODS, ReportFilter, parse_filter
from app.services.analytics.metrics import METRICS
from app.services.analytics.naming import Labels
from app.services.analytics.scope import scoped

__all__ = ["METRICS", "PERIODS", "Labels", "ReportFilter", "compute", "parse_filter", "report", "scoped"]


def compute(session: Session, metric: str, f: ReportFilter, labels: Labels) -> dict[str, Any]:
    """Metric ``metric`` for the (already scoped) filter ``f``; NotFound for an unknown name."""
    function = METRICS.get(metric)
    if function is None:
        raise NotFound(N_("Unknown report."))
    no_jit(session)
    return function(session, f, labels)


def report(session: Session, user: User, metric: str, args: Any, labels: Labels) -> tuple[ReportFilter, dict[str, Any]]:
    """Parse ``args``, scope them for ``user`` and compute ``metric``: the API's and downloads' use case."""
    policy.require(policy.may_view_analytics(user), N_("You may not see the reports."))
    if metric not in METRICS:
        raise NotFound(N_("Unknown report."))
    f = scoped(session, user, parse_filter(args))
    return f, compute(session, metric, f, labels)
