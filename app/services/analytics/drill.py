"""The cases behind one bar or slice of a chart: the same filters plus the clicked key.

``chart`` names the chart, ``key`` the clicked value, ``bucket`` (volumes only) the first day
of the clicked time bucket:

- ``volumes`` (``by`` = channel, feedback_type, category or product_model), ``pareto_models``:
  cases received in the period with that value;
- ``pareto_causes``: cases received in the period with that root cause;
- ``cycle_times``, ``on_time``, ``costs`` (key: a department code): cases received in the period
  that concern the department;
- ``ageing`` (key: an age bucket): cases open now of that age; ``overdue`` (key: a department
  code): cases with a task of the department overdue now;
- ``satisfaction`` (key: a score 1–5): cases closed in the period answered with that score;
- ``repeat_rate``: cases received in the period that match earlier cases (the early warning's rules).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session

from app.clock import clock, local_zone
from app.data.models import Case
from app.data.queries import analytics as q
from app.i18n import N_
from app.services.analytics import labels as L
from app.services.analytics.filters import ReportFilter
from app.services.analytics.metrics import VOLUME_DIMENSIONS, bucket_of, bucket_size
from app.services.analytics.scope import window
from app.services.errors import InvalidInput

CHARTS = ("volumes", "pareto_causes", "pareto_models", "cycle_times", "on_time", "costs", "ageing", "overdue",
          "satisfaction", "repeat_rate")


def _value(key: str) -> str | None:
    return None if key == L.NONE_KEY else key


def _department(session: Session, key: str) -> int:
    department_id = q.department_id_of(session, key)
    if department_id is None:
        raise InvalidInput(N_("Unknown department."))
    return department_id


def _bucket(f: ReportFilter, bucket: str | None) -> Any:
    if not bucket:
        return None
    try:
        first = date.fromisoformat(bucket)
    except ValueError:
        raise InvalidInput(N_("The start date is not a date (YYYY-MM-DD).")) from None
    size = bucket_size(f)
    if bucket_of(datetime.combine(first, time(12), local_zone()), size) != first:
        raise InvalidInput(N_("Unknown chart key."))
    last = first + timedelta(days=1 if size == "day" else 7 if size == "week" else 32)
    if size == "month":
        last = last.replace(day=1)
    start = datetime.combine(first, time(), local_zone())
    end = datetime.combine(last, time(), local_zone())
    return (Case.received_at >= start) & (Case.received_at < end)


def _age(key: str) -> Any:
    for name, _label, low, high in L.AGE_BUCKETS:
        if name == key:
            now = clock.now()
            return q.open_between(now - timedelta(days=high) if high is not None else None,
                                  now - timedelta(days=low) if low is not None else None)
    raise InvalidInput(N_("Unknown chart key."))


def drill(session: Session, f: ReportFilter, args: Mapping[str, str]) -> Select[tuple[Case]]:
    """The cases behind ``args`` (``chart``, ``key``, ``by``, ``bucket``) within the scoped filter ``f``."""
    chart, key = args.get("chart") or "", args.get("key") or ""
    w = window(session, f)
    if chart == "volumes":
        by = args.get("by") or ""
        if by not in VOLUME_DIMENSIONS:
            raise InvalidInput(N_("Unknown chart key."))
        condition = getattr(Case, by).is_(None) if _value(key) is None else getattr(Case, by) == key
        stmt = q.drill_cases(w, condition)
        bucket = _bucket(f, args.get("bucket"))
        return stmt.where(bucket) if bucket is not None else stmt
    if chart == "pareto_models":
        return q.drill_cases(w, Case.product_model.is_(None) if _value(key) is None else Case.product_model == key)
    if chart == "pareto_causes":
        if key not in L.ROOT_CAUSES:
            raise InvalidInput(N_("Unknown chart key."))
        return q.drill_cases(w, q.with_root_cause(key))
    if chart in ("cycle_times", "on_time", "costs"):
        return q.drill_cases(w, q.with_department(_department(session, key)))
    if chart == "ageing":
        return q.drill_cases(w, _age(key), period_column=None)
    if chart == "overdue":
        department_id = None if key == L.NONE_KEY else _department(session, key)
        return q.drill_cases(w, q.with_overdue_task(department_id, clock.now()), period_column=None)
    if chart == "satisfaction":
        if key not in {str(s) for s in L.SATISFACTION_LEVELS}:
            raise InvalidInput(N_("Unknown chart key."))
        return q.drill_cases(w, q.with_score(int(key)), period_column=Case.closed_at)
    if chart == "repeat_rate":
        return q.drill_cases(w, q.repeats_in(w))
    raise InvalidInput(N_("Unknown chart."))
