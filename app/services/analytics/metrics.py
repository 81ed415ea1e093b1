"""The dashboard's and reports' figures: one function per metric, each ``(session, filter,
labels) -> dict`` of plain JSON-ready data with a ``table`` (``columns``: catalogue msgids,
``rows``: values) for the downloads, the API and the printed report.

Definitions (also on the dashboard and in the README):

- **volumes**: cases received in the period, by channel, type, category and product model, per
  day (periods up to 31 days), week (up to 120 days) or month.
- **pareto_causes**: root causes recorded for the cases received in the period (one per 8D
  report's D4 category, one per stock count that names a cause), most frequent first, with the
  cumulative share. **pareto_models**: cases received per product model.
- **cycle_times**: hours from a task's creation to its completion, for the case tasks completed in
  the period, per stage and per department (median and 90th percentile, nearest-rank); plus whole
  cases, received to closed, for the cases closed in the period.
- **on_time**: per department, the share of charged tasks due in the period done by their due
  time — 8D measures (48 h) and execution of corrective actions; a task still open after its
  due time counts as late, one not yet due is not counted. The customer's clock: the share of
  tracked cases received in the period whose first answer / resolution met its limit (a
  running clock past its due time counts as missed).
- **ageing**: cases open now by age (days since received) — independent of the period — and open
  case tasks overdue now per department.
- **satisfaction**: the survey answers of the cases closed in the period: distribution of the five
  levels, the index ``25 × (average score − 1)`` (5 = very satisfied → 100, 1 → 0), its change
  against the previous period, and the response rate (answers ÷ cases closed).
- **costs**: penalties (late measures, late execution) and logistics costs per department, from the
  weekly assessments whose week begins in the period.
- **repeat_rate**: the share of cases received in the period that match earlier cases as the early
  warning defines it (``app.services.alert_rules``): on the product model, the batch number, a serial
  number or a serial prefix, each rule's threshold reached within its window.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from app.clock import clock, local_zone
from app.data.queries import analytics as q
from app.i18n import N_
from app.services import alert_rules
from app.services.analytics import labels as L
from app.services.analytics import rollup
from app.services.analytics.filters import ReportFilter
from app.services.analytics.naming import Labels
from app.services.analytics.scope import window

VOLUME_DIMENSIONS = ("channel", "feedback_type", "category", "product_model")
MAX_MODELS = 15  # product models shown by name in the volume chart; the rest are summed as "other"
OTHER = "_other"  # the summed rest of the product models (not a model name)


# ---------------------------------------------------------------------------- helpers


def percentile(values: Sequence[float], share: float) -> float | None:
    """The nearest-rank percentile (``share`` 0.5 = median) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def rate(part: int, whole: int) -> float | None:
    """``part / whole`` as a percentage with one decimal; None when ``whole`` is 0."""
    return round(100.0 * part / whole, 1) if whole else None


def bucket_size(f: ReportFilter) -> str:
    return "day" if f.days <= 31 else "week" if f.days <= 120 else "month"


def bucket_of(moment: datetime, size: str) -> date:
    """The first day of the bucket (local date) ``moment`` falls in."""
    day = moment.astimezone(local_zone()).date()
    if size == "week":
        return day - timedelta(days=day.weekday())
    if size == "month":
        return day.replace(day=1)
    return day


def buckets(f: ReportFilter) -> list[date]:
    size = bucket_size(f)
    out: list[date] = []
    day = f.start
    while day <= f.end:
        first = bucket_of(_local_noon(day), size)
        if not out or out[-1] != first:
            out.append(first)
        day += timedelta(days=1)
    return out


def _local_noon(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=local_zone())


def _key(value: str | None) -> str:
    return value or L.NONE_KEY


# ---------------------------------------------------------------------------- volumes and Pareto


def _volume_counts(session: Session, w: q.Window, f: ReportFilter, days: list[date]) -> dict[str, dict[str, list[int]]]:
    """dimension → value → cases per bucket: grouped by PostgreSQL, or bucketed here from the rows (SQLite)."""
    size = bucket_size(f)
    index = {day: i for i, day in enumerate(days)}
    counts: dict[str, dict[str, list[int]]] = {dim: defaultdict(lambda: [0] * len(days)) for dim in VOLUME_DIMENSIONS}
    if q.is_postgres(session):
        for dim, value, first, n in q.received_by_bucket(session, w, size, local_zone().key, VOLUME_DIMENSIONS):
            slot = index.get(first)
            if slot is not None:
                counts[dim][_key(value)][slot] += n
        return counts
    rows = q.received_cases(session, w)
    slots = [index.get(bucket_of(row.received_at, size)) for row in rows]  # once per case, not per dimension
    for dim in VOLUME_DIMENSIONS:
        for row, slot in zip(rows, slots, strict=True):
            if slot is not None:
                counts[dim][_key(getattr(row, dim))][slot] += 1
    return counts


def volumes(session: Session, f: ReportFilter, labels: Labels) -> dict[str, Any]:
    """Cases received per bucket, by each of :data:`VOLUME_DIMENSIONS`; total and the previous period's."""
    w = window(session, f)
    size = bucket_size(f)
    days = buckets(f)
    all_counts = _volume_counts(session, w, f, days)
    dimensions: dict[str, Any] = {}
    for dim in VOLUME_DIMENSIONS:
        counts = all_counts[dim]
        keys = sorted(counts, key=lambda k: (-sum(counts[k]), k))
        if dim == "product_model" and len(keys) > MAX_MODELS:
            rest = [sum(c) for c in zip(*(counts[k] for k in keys[MAX_MODELS:]), strict=True)]
            keys = keys[:MAX_MODELS]
            counts[OTHER] = rest
            keys.append(OTHER)
        dimensions[dim] = {"series": [
            {"key": k, "label": labels.text(N_("Other models")) if (dim == "product_model" and k == OTHER)
             else labels.key(dim, k), "counts": counts[k], "total": sum(counts[k])} for k in keys]}
    total = q.received_count(session, w)
    previous = q.received_count(session, window(session, f.previous()))
    table_rows = [[dim, s["label"], day.isoformat(), n] for dim in VOLUME_DIMENSIONS
                  for s in dimensions[dim]["series"] for day, n in zip(days, s["counts"], strict=True) if n]
    return {"metric": "volumes", "bucket": size, "buckets": [d.isoformat() for d in days],
            "total": total, "previous_total": previous, "dimensions": dimensions,
            "table": {"columns": [N_("Dimension"), N_("Value"), N_("From"), N_("Cases")], "rows": table_rows}}


def _pareto(items: Iterable[tuple[str, int]], label: Callable[[str], str]) -> tuple[list[dict[str, Any]], int]:
    ordered = sorted(items, key=lambda item: (-item[1], item[0]))
    total = sum(n for _k, n in ordered)
    out, running = [], 0
    for key, count in ordered:
        running += count
        out.append({"key": key, "label": label(key), "count": count, "share": rate(count, total),
                    "cumulative": rate(running, total)})
    return out, total


def _pareto_table(items: list[dict[str, Any]], first: str) -> dict[str, Any]:
    return {"columns": [first, N_("Count"), N_("Share (%)"), N_("Cumulative (%)")],
            "rows": [[i["label"], i["count"], i["share"], i["cumulative"]] for i in items]}


def pareto_causes(session: Session, f: ReportFilter, labels: Labels) -> dict[str, Any]:
    """Root-cause categories of the cases received in the period, most frequent first."""
    items, total = _pareto(q.root_cause_counts(session, window(session, f)), lambda k: labels.key("cause", k))
    return {"metric": "pareto_causes", "items": items, "total": total,
            "table": _pareto_table(items, N_("Root cause"))}


def pareto_models(session: Session, f: ReportFilter, labels: Labels) -> dict[str, Any]:
    """Cases received in the period per product model, most frequent first."""
    counts: Counter[str] = Counter()
    for model, n in q.model_counts(session, window(session, f)):
        counts[_key(model)] += n
    items, total = _pareto(counts.items(), lambda k: labels.key("product_model", k))
    return {"metric": "pareto_models", "items": items, "total": total,
            "table": _pareto_table(items, N_("Product model"))}


# ---------------------------------------------------------------------------- cycle times and on-time rates


def _cycle(key: str, label: str, hours: list[float]) -> dict[str, Any]:
    return {"key": key, "label": label, "count": len(hours), "median_hours": percentile(hours, 0.5),
            "p90_hours": percentile(hours, 0.9)}


def _cycle_groups(session: Session, w: q.Window, labels: Labels) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(stages, departments): percentiles by PostgreSQL, or from the rows here (SQLite). The hours are
    rounded to one decimal after the rank is taken — the same value, as rounding keeps the order.
    Months counted in advance (:mod:`~app.services.analytics.rollup`) come as counts per tenth of an
    hour, the rest of the period from the tasks."""
    months = rollup.covered(session, w)
    if q.is_postgres(session):
        stage_rows: dict[str, tuple[int, float | None, float | None]] = {}
        department_rows: dict[str, tuple[int, float | None, float | None]] = {}
        ranked = q.rolled_task_percentiles(session, w, months) if months else None
        found: list[tuple[str, Any, int, float | None, float | None]]
        if ranked is not None:
            found = [(by, key, count, median / 10, p90 / 10) for by, key, count, median, p90 in ranked]
        else:
            found = [(by, key, count, _tenth(median), _tenth(p90))
                     for by, key, count, median, p90 in q.completed_task_percentiles(session, w)]
        for by, key, count, median, p90 in found:
            if by == "stage":
                stage_rows[key or L.NONE_KEY] = (count, median, p90)
            else:
                department_rows[labels.department_code(key)] = (count, median, p90)
        stages = [_ranked(k, labels.key("stage", k), *v) for k, v in sorted(stage_rows.items())]
        count, median, p90 = q.closed_case_percentiles(session, w)
        if count:
            stages.append(_ranked(L.WHOLE_CASE, labels.key("stage", L.WHOLE_CASE), count, median, p90))
        departments = [_ranked(k, labels.key("department", k), *v) for k, v in sorted(department_rows.items())]
        return stages, departments
    by_stage: dict[str, list[float]] = defaultdict(list)
    by_department: dict[str, list[float]] = defaultdict(list)
    for row in q.completed_tasks_outside(session, w, months) if months else q.completed_tasks(session, w):
        hours = round(float(row.hours), 1)
        by_stage[row.stage or L.NONE_KEY].append(hours)
        by_department[labels.department_code(row.department_id)].append(hours)
    for stage, department_id, tenths, tasks in q.rollup_counts(session, w, months) if months else ():
        by_stage[stage or L.NONE_KEY].extend([tenths / 10] * int(tasks))
        by_department[labels.department_code(department_id)].extend([tenths / 10] * int(tasks))
    stages = [_cycle(k, labels.key("stage", k), v) for k, v in sorted(by_stage.items())]
    whole = [round(h, 1) for h in q.closed_case_durations(session, w)]
    if whole:
        stages.append(_cycle(L.WHOLE_CASE, labels.key("stage", L.WHOLE_CASE), whole))
    return stages, [_cycle(k, labels.key("department", k), v) for k, v in sorted(by_department.items())]


def _tenth(hours: Any) -> float | None:
    return None if hours is None else round(float(hours), 1)


def _ranked(key: str, label: str, count: int, median: Any, p90: Any) -> dict[str, Any]:
    return {"key": key, "label": label, "count": int(count),
            "median_hours": None if median is None else round(float(median), 1),
            "p90_hours": None if p90 is None else round(float(p90), 1)}


def cycle_times(session: Session, f: ReportFilter, labels: Labels) -> dict[str, Any]:
    """Median and 90th percentile hours per stage and per department (tasks completed in the period)."""
    stages, departments = _cycle_groups(session, window(session, f), labels)
    rows = ([[labels.text(N_("Stage")), s["label"], s["count"], s["median_hours"], s["p90_hours"]] for s in stages]
            + [[labels.text(N_("Department")), d["label"], d["count"], d["median_hours"], d["p90_hours"]]
               for d in departments])
    return {"metric": "cycle_times", "stages": stages, "departments": departments,
            "table": {"columns": [N_("Group"), N_("Value"), N_("Count"), N_("Median (h)"), N_("90th percentile (h)")],
                      "rows": rows}}


def _tally() -> dict[str, int]:
    return {"on_time": 0, "late": 0}


def _add(tally: dict[str, int], on_time: int, late: int) -> None:
    tally["on_time"] += int(on_time)
    tally["late"] += int(late)


def on_time(session: Session, f: ReportFilter, labels: Labels) -> dict[str, Any]:
    """On-time rates per department: 8D measures, execution, and the customer's clock (counted by the database)."""
    w = window(session, f)
    now = clock.now()
    tallies: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(_tally))
    for department_id, charge, on, late in q.charged_task_tallies(session, w, now):
        _add(tallies[labels.department_code(department_id)][charge], on, late)
    first_on, first_late, resolution_on, resolution_late = q.customer_clock_tallies(session, w, now)
    overall = {"first_answer": {"on_time": first_on, "late": first_late},
               "resolution": {"on_time": resolution_on, "late": resolution_late}}
    for department_id, *sums in q.customer_clock_department_tallies(session, w, now):
        code = labels.department_code(department_id)
        _add(tallies[code]["first_answer"], sums[0], sums[1])
        _add(tallies[code]["resolution"], sums[2], sums[3])
    kinds = (*L.CHARGES, *L.CLOCKS)

    def cell(t: dict[str, int]) -> dict[str, Any]:
        return {**t, "rate": rate(t["on_time"], t["on_time"] + t["late"])}

    departments: list[dict[str, Any]] = [{"key": code, "label": labels.key("department", code),
                    **{kind: cell(tallies[code][kind]) for kind in kinds}} for code in sorted(tallies)]
    rows = [[d["label"], labels.key("charge" if k in L.CHARGES else "clock", k), d[k]["on_time"], d[k]["late"],
             d[k]["rate"]] for d in departments for k in kinds if d[k]["on_time"] + d[k]["late"]]
    return {"metric": "on_time", "kinds": [{"key": k, "label": labels.key("charge" if k in L.CHARGES else "clock", k)}
                                           for k in kinds],
            "departments": departments, "customer": {k: cell(v) for k, v in overall.items()},
            "table": {"columns": [N_("Department"), N_("Measure"), N_("On time"), N_("Late"), N_("On-time rate (%)")],
                      "rows": rows}}


# ---------------------------------------------------------------------------- open cases now


def ageing(session: Session, f: ReportFilter, labels: Labels) -> dict[str, Any]:
    """Open cases by age now (the period does not apply), and open case tasks overdue now per department."""
    w = window(session, f)
    now = clock.now()
    # age in days: a bucket holds ages above ``low`` up to ``high``, i.e. received from now − high
    # (inclusive) to now − low (exclusive)
    bounds = [(now - timedelta(days=high) if high is not None else None,
               now - timedelta(days=low) if low is not None else None) for _k, _l, low, high in L.AGE_BUCKETS]
    counts = dict(zip((k for k, *_ in L.AGE_BUCKETS), q.open_case_ages(session, w, bounds), strict=True))
    bucket_items = [{"key": k, "label": labels.key("age", k), "count": counts[k]} for k, *_ in L.AGE_BUCKETS]
    overdue: list[dict[str, Any]] = sorted(
        ({"key": labels.department_code(d), "label": labels.department(d), "count": n}
         for d, n in q.overdue_open_tasks(session, w, now)), key=lambda i: (-i["count"], i["key"]))
    rows = ([[labels.text(N_("Open cases by age")), i["label"], i["count"]] for i in bucket_items]
            + [[labels.text(N_("Overdue tasks now")), i["label"], i["count"]] for i in overdue])
    return {"metric": "ageing", "as_of": now.isoformat(), "buckets": bucket_items, "open": sum(counts.values()),
            "overdue": overdue, "table": {"columns": [N_("Group"), N_("Value"), N_("Count")], "rows": rows}}


# ---------------------------------------------------------------------------- satisfaction, costs, repeats


def satisfaction_index(scores: Sequence[int]) -> float | None:
    """``25 × (average score − 1)``: 0 (all very dissatisfied) to 100 (all very satisfied); None without answers."""
    return round(25.0 * (sum(scores) / len(scores) - 1), 1) if scores else None


def _satisfaction_of(session: Session, f: ReportFilter) -> tuple[list[int], int]:
    """(the answers' scores, cases closed) of the period, from counts per score."""
    scores: list[int] = []
    closed = 0
    for score, n in q.closed_score_counts(session, window(session, f)):
        closed += n
        if score is not None:
            scores += [int(score)] * n
    return scores, closed


def satisfaction(session: Session, f: ReportFilter, labels: Labels) -> dict[str, Any]:
    """Survey answers of the cases closed in the period: distribution, index and its change, response rate."""
    answers, closed = _satisfaction_of(session, f)
    before, closed_before = _satisfaction_of(session, f.previous())
    index, previous = satisfaction_index(answers), satisfaction_index(before)
    counts = Counter(answers)
    levels = [{"key": str(level), "label": labels.key("score", level), "count": counts[level],
               "share": rate(counts[level], len(answers))} for level in sorted(L.SATISFACTION_LEVELS, reverse=True)]
    change = round(index - previous, 1) if index is not None and previous is not None else None
    rows = [[lv["label"], lv["count"], lv["share"]] for lv in levels] + [
        [labels.text(N_("Satisfaction index (0-100)")), index, None],
        [labels.text(N_("Previous period's index")), previous, None],
        [labels.text(N_("Change")), change, None],
        [labels.text(N_("Response rate (%)")), rate(len(answers), closed), None],
    ]
    return {"metric": "satisfaction", "levels": levels, "responses": len(answers), "closed": closed,
            "response_rate": rate(len(answers), closed), "index": index, "previous_index": previous,
            "previous_responses": len(before), "previous_closed": closed_before, "change": change,
            "formula": "25 × (average score − 1)",
            "table": {"columns": [N_("Level"), N_("Count"), N_("Share (%)")], "rows": rows}}


def _money(value: Any) -> str:
    return str(Decimal(value or 0).quantize(Decimal("0.01")))


def costs(session: Session, f: ReportFilter, labels: Labels) -> dict[str, Any]:
    """Penalties and logistics costs per department, from the weekly assessments of weeks beginning in the period."""
    rows = q.assessment_sums(session, window(session, f), f.start, f.end)
    items = sorted(({"key": labels.department_code(r[0]), "label": labels.department(r[0]),
                     "measure_penalty": _money(r[1]), "execution_penalty": _money(r[2]),
                     "logistics_cost": _money(r[3])} for r in rows), key=lambda i: i["key"])
    total = {k: _money(sum(Decimal(i[k]) for i in items)) for k in L.COSTS}
    return {"metric": "costs", "departments": items, "total": total,
            "kinds": [{"key": k, "label": labels.key("cost", k)} for k in L.COSTS],
            "table": {"columns": [N_("Department"), *L.COSTS.values()],
                      "rows": [[i["label"], *(i[k] for k in L.COSTS)] for i in items]}}


def repeat_rate(session: Session, f: ReportFilter, labels: Labels) -> dict[str, Any]:
    """Share of the cases received in the period that match earlier cases as the early warning's rules
    define it (``app.services.alert_rules``: product model, batch, serial number or prefix, each within
    its window and threshold)."""
    w = window(session, f)
    rules = alert_rules.rules(session)
    total, repeats = q.repeat_counts(session, w)  # the stored flags (app.services.analytics.repeats)
    kinds = [r.dimension for r in alert_rules.repeat_rules(rules)]
    return {"metric": "repeat_rate", "cases": total, "repeats": repeats, "rate": rate(repeats, total),
            "kinds": kinds,
            "table": {"columns": [N_("Cases"), N_("Repeats"), N_("Repeat rate (%)")],
                      "rows": [[total, repeats, rate(repeats, total)]]}}


#: metric name → function (the API's ``{metric}``, the downloads, the printed report)
METRICS: dict[str, Callable[[Session, ReportFilter, Labels], dict[str, Any]]] = {
    "volumes": volumes,
    "pareto_causes": pareto_causes,
    "pareto_models": pareto_models,
    "cycle_times": cycle_times,
    "on_time": on_time,
    "ageing": ageing,
    "satisfaction": satisfaction,
    "costs": costs,
    "repeat_rate": repeat_rate,
}
