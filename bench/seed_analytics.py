"""Fill a database with N realistic cases for the dashboard's benchmarks, straight into the tables.

    .venv/bin/python bench/seed_analytics.py --cases 100000 [--years 4] [--database-url URL] [--seed 1]

(default URL: ``DATABASE_URL``, else ``instance/feedback.db``; the database is migrated first and
the demo organisation created if missing). From Python: ``seed_analytics(session, cases=100_000)``.

Each case gets what the processes would have left behind, spread over ``years`` up to now: a
received time (more recent years busier), type, category, channel, product model (skewed: a few
models most often) and serial numbers (some repeated on later cases), closed or still open (recent
cases more often open), the customer's clock outcome, 5–9 completed human tasks over the stages
(verification, analysis, 8D with the 48-hour measures charge, execution, verification, closure) in
the departments, an open task with a due time for open cases, a root cause per 8D, a survey answer
for about 60 % of the closed cases, a batch number (some shared by several cases), the serial rows
and match keys the early warning reads, the repeat flags, the cycle-time counts of the sealed months
and, per week, assessment lines with penalties and logistics costs. On PostgreSQL the rows are
loaded with COPY and the tables analysed. Every task hangs on one placeholder process instance (the
dashboard never loads workflows); inboxes will list the open ones.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from app.clock import clock  # noqa: E402
from app.data.models import (  # noqa: E402
    AssessmentLine,
    Case,
    CaseMatchKey,
    CaseRepeat,
    CaseRootCause,
    CaseSerial,
    CycleMonth,
    CycleRollup,
    Department,
    HumanTask,
    ProcessDefinition,
    ProcessInstance,
    SurveyResponse,
)
from app.data.queries.analytics import refresh_repeats, rolled_up_months  # noqa: E402
from app.services import alert_rules  # noqa: E402
from app.services.analytics import rollup  # noqa: E402
from app.services.analytics.labels import ROOT_CAUSES  # noqa: E402

TYPES = (("complaint", 6), ("consultation", 3), ("suggestion", 1), ("praise", 1))
CATEGORIES = (("quality", 6), ("service", 2), ("delivery", 2), ("technical", 2), ("other", 1))
CHANNELS = (("hotline", 4), ("email", 3), ("web", 2), ("chat", 1), ("sales", 1), ("visit", 1))
MODELS = [f"CB-{i}" for i in range(1, 41)]
#: (stage, department code, typical hours, charge)
STAGES = (("核实", "marketing", 4, None), ("分析", "quality", 8, None), ("8D", None, 40, "measures"),
          ("执行", None, 120, "execution"), ("验证", "quality", 10, None), ("关闭", "marketing", 6, None))
RESPONSIBLE = ("production", "purchasing", "technical", "warehouse")
BATCH = 2000


def _pick(rng: random.Random, weighted: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([v for v, _w in weighted], [w for _v, w in weighted])[0]


def _placeholder_instance(session: Session) -> int:
    definition = session.scalar(select(ProcessDefinition).where(ProcessDefinition.key == "bench_analytics"))
    if definition is None:
        definition = ProcessDefinition(key="bench_analytics", version=1, name="bench", content_hash="-",
                                       spec_hash="-", bpmn_xml="", executable=False)
        session.add(definition)
        session.flush()
    instance = ProcessInstance(definition_id=definition.id, process_key="bench_analytics", status="completed",
                               state="{}", serializer_version="-")
    session.add(instance)
    session.flush()
    return instance.id


def seed_analytics(session: Session, cases: int, years: int = 4, seed: int = 1,
                   now: datetime | None = None) -> dict[str, int]:
    """Insert ``cases`` cases with their tasks, surveys, root causes, repeat keys and assessment lines."""
    rng = random.Random(seed)
    now = now or clock.now()
    departments = {code: id_ for id_, code in session.execute(select(Department.id, Department.code))}
    instance_id = _placeholder_instance(session)
    first_id = (session.scalar(select(func.max(Case.id))) or 0) + 1
    span = timedelta(days=365 * years).total_seconds()
    counts = {"cases": 0, "tasks": 0, "surveys": 0}
    rows: dict[str, list[dict[str, Any]]] = {"case": [], "task": [], "survey": [], "cause": [], "key": [],
                                             "serial": []}
    weekly: dict[tuple[Any, int], list[Decimal]] = {}
    serial_pool: list[tuple[str, str]] = []
    for n in range(cases):
        case_id = first_id + n
        # more recent years busier: the square root skews the draw towards now
        received = now - timedelta(seconds=span * (1 - rng.random() ** 0.7))
        age_days = (now - received).days
        closed = age_days > 45 or rng.random() < min(0.9, age_days / 50)
        model = MODELS[min(int(rng.paretovariate(1.2)) - 1, len(MODELS) - 1)]
        if serial_pool and rng.random() < 0.05:
            model, serial = rng.choice(serial_pool)
        else:
            serial = f"SN{rng.randrange(10**7):07d}"
            if rng.random() < 0.1:
                serial_pool.append((model, serial))
        # a batch a month per model; about one case in three names it
        batch = f"B{received:%y%m}-{MODELS.index(model):02d}" if rng.random() < 0.3 else None
        clock_met = rng.random() < 0.85
        total_hours = 0.0
        responsible = rng.choice(RESPONSIBLE)
        task_time = received
        for stage, dept, hours, charge in STAGES:
            if not closed and rng.random() < 0.3:
                break
            duration = timedelta(hours=rng.expovariate(1 / hours))
            due = task_time + timedelta(hours=48 if charge == "measures" else hours * 2)
            rows["task"].append({
                "id": str(uuid.UUID(int=rng.getrandbits(128))), "instance_id": instance_id, "case_id": case_id,
                "process_key": "bench_analytics", "element_id": stage, "title": stage, "stage": stage,
                "department_id": departments.get(dept or responsible), "state": "completed", "priority": 0,
                "created_at": task_time, "due_at": due, "completed_at": task_time + duration,
                "lateness_charge": charge, "context": {}, "case_number": f"B{case_id:08d}"})
            task_time += duration
            total_hours += duration.total_seconds() / 3600
            if charge == "measures":
                rows["cause"].append({"case_id": case_id, "department_id": departments.get(responsible),
                                      "category": rng.choice(list(ROOT_CAUSES)), "source": "8d",
                                      "received_at": received, "recorded_at": task_time})
            late_days = max(0, (task_time - due).days)
            if charge and late_days:
                week = (task_time.date() - timedelta(days=task_time.weekday()), departments[responsible])
                penalty = Decimal(late_days * (10 if charge == "measures" else 20))
                weekly.setdefault(week, [Decimal(0), Decimal(0), Decimal(0)])
                weekly[week][0 if charge == "measures" else 1] += penalty
                weekly[week][2] += Decimal(rng.randrange(0, 800))
        closed_at = min(task_time, now) if closed else None
        if not closed:
            rows["task"].append({
                "id": str(uuid.UUID(int=rng.getrandbits(128))), "instance_id": instance_id, "case_id": case_id,
                "process_key": "bench_analytics", "element_id": "open", "title": "8D", "stage": "8D",
                "department_id": departments.get(responsible), "state": "open", "priority": 0,
                "created_at": task_time, "due_at": task_time + timedelta(hours=48), "completed_at": None,
                "lateness_charge": "measures",
                "context": {}, "case_number": f"B{case_id:08d}"})
        feedback_type = _pick(rng, TYPES)
        rows["case"].append({
            "id": case_id, "number": f"B{case_id:08d}", "feedback_type": feedback_type,
            "category": _pick(rng, CATEGORIES), "urgency": "general", "channel": _pick(rng, CHANNELS),
            "customer_name": f"客户{rng.randrange(5000)}", "product_model": model, "serial_numbers": serial,
            "batch_no": batch,
            "status": "closed" if closed else "open", "received_at": received, "closed_at": closed_at,
            "public_token": uuid.UUID(int=rng.getrandbits(128)).hex, "customer_locale": "zh",
            "first_answer_due_at": received + timedelta(hours=8), "first_answer_met": clock_met if closed else None,
            "resolution_due_at": received + timedelta(hours=72), "clock_paused_minutes": 0,
            "resolution_met": (total_hours < 72) if closed else None,
            "clock_state": ("met" if clock_met else "missed") if closed else "on_track",
            "updated_at": closed_at or received, "data": {}})
        rows["serial"].append({"case_id": case_id, "serial": serial})
        rows["key"] += [{"case_id": case_id, "kind": kind, "value": value, "received_at": received}
                        for kind, value in (("model", model), ("batch", batch), ("serial", serial),
                                            ("type", feedback_type)) if value]
        if closed and rng.random() < 0.6:
            rows["survey"].append({"case_id": case_id, "score": rng.choices([5, 4, 3, 2, 1], [5, 4, 2, 1, 1])[0],
                                   "at": closed_at})
        if len(rows["case"]) >= BATCH:
            _flush(session, rows, counts)
    _flush(session, rows, counts)
    lines = [{"instance_id": instance_id, "week_start": week, "department_id": dept, "measure_penalty": v[0],
              "execution_penalty": v[1], "logistics_cost": v[2]} for (week, dept), v in weekly.items()]
    _insert(session, AssessmentLine, lines)
    counts["assessment_lines"] = len(lines)
    rules = alert_rules.rules(session)  # the repeat flags, as the analytics hook and the rules keep them
    refresh_repeats(session, None, alert_rules.repeat_rules(rules), rules.types)
    # the sealed months' cycle times, as the scheduler's job counts them (the loaded tasks dropped any
    # month counted before)
    for start, end in rollup.missing_months(session):
        rollup.fill_month(session, start, end)
    counts["months_counted"] = len(rolled_up_months(session))
    if session.get_bind().dialect.name == "postgresql":  # ids were given: move the sequence past them
        session.execute(text("SELECT setval(pg_get_serial_sequence('feedback_case', 'id'), "
                             "(SELECT max(id) FROM feedback_case))"))
        for model in (Case, HumanTask, SurveyResponse, CaseRootCause, CaseMatchKey, CaseSerial, AssessmentLine,
                      CaseRepeat, CycleMonth, CycleRollup):
            session.execute(text(f"ANALYZE {model.__tablename__}"))  # the planner's statistics, for the bench
    return counts


def _insert(session: Session, model: Any, rows: list[dict[str, Any]]) -> None:
    """COPY on PostgreSQL (the fastest load); executemany elsewhere."""
    if not rows:
        return
    table = model.__table__
    if session.get_bind().dialect.name != "postgresql":
        session.execute(insert(table), rows)
        return
    columns = list(rows[0])
    types = [table.c[name].type for name in columns]
    dialect = session.get_bind().dialect
    processors = [t.bind_processor(dialect) for t in types]
    raw = session.connection().connection.driver_connection
    assert raw is not None
    names = ", ".join(f'"{c}"' for c in columns)
    with raw.cursor() as cursor, cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
        for row in rows:
            values = []
            for name, process in zip(columns, processors, strict=True):
                value = row[name]
                if process is not None and value is not None:
                    value = process(value)
                values.append(json.dumps(value) if isinstance(value, dict) else value)
            copy.write_row(values)


def _flush(session: Session, rows: dict[str, list[dict[str, Any]]], counts: dict[str, int]) -> None:
    for key, model in (("case", Case), ("task", HumanTask), ("survey", SurveyResponse), ("cause", CaseRootCause),
                       ("key", CaseMatchKey), ("serial", CaseSerial)):
        _insert(session, model, rows[key])
    counts["cases"] += len(rows["case"])
    counts["tasks"] += len(rows["task"])
    counts["surveys"] += len(rows["survey"])
    for batch in rows.values():
        batch.clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--years", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL")
                        or f"sqlite:///{ROOT / 'instance' / 'feedback.db'}")
    args = parser.parse_args()
    from app.data.db import Database
    from app.data.migrate import upgrade
    from app.services.setup import seed_demo

    upgrade(args.database_url)
    database = Database(args.database_url)
    started = time.perf_counter()
    with database.transaction() as session:
        if session.scalar(select(func.count()).select_from(Department)) == 0:
            seed_demo(session)
    with database.transaction() as session:
        counts = seed_analytics(session, args.cases, args.years, args.seed)
    print(f"seeded {counts} in {time.perf_counter() - started:.1f} s into {args.database_url}")
    database.dispose()


if __name__ == "__main__":
    main()
