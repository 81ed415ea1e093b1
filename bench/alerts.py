"""Benchmark of the early warning's matching at the company's scale.

    .venv/bin/python bench/alerts.py [--cases 100000] [--database-url URL]

Fills ``feedback_case`` and ``case_serial`` with ``--cases`` cases spread over 3 years (500
product models, 5,000 batches, two serial numbers each), then measures, each in its own
transaction that is rolled back: matching a new case (``alerts.evaluate``: model, batch and
serial look-ups; with the random data most new cases form a model cluster, whose alert notifies
Quality — the rare path, measured as the worst case), matching a case that matches nothing (the
look-ups alone, the common path), and the case page's earlier related cases (``alerts.related``).
Target: p95 under 50 ms (it runs inside the case's opening transaction).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select  # noqa: E402

from app.clock import clock  # noqa: E402
from app.data.db import Database  # noqa: E402
from app.data.migrate import upgrade  # noqa: E402
from app.data.models import Case, CaseSerial  # noqa: E402
from app.engine.context import Actor  # noqa: E402
from app.services import alerts  # noqa: E402
from app.services.setup import seed_demo  # noqa: E402

TARGET_MS = 50.0
NOW = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)


def fill(database: Database, count: int) -> None:
    rng = random.Random(7)
    with database.transaction() as session:
        if session.scalar(select(Case.id).limit(1)) is not None:
            return
        seed_demo(session)
        chunk = 5000
        for start in range(0, count, chunk):
            rows, serials = [], []
            for i in range(start, min(start + chunk, count)):
                received = NOW - timedelta(minutes=rng.randrange(3 * 365 * 24 * 60))
                rows.append({"id": i + 1, "number": f"FB-B-{i + 1:07d}", "feedback_type": "complaint",
                             "customer_name": f"客户{i % 3000}", "product_model": f"M-{rng.randrange(500)}",
                             "batch_no": f"B-{rng.randrange(5000)}", "serial_numbers": "", "status": "open",
                             "received_at": received, "public_token": secrets.token_hex(12), "data": {},
                             "customer_locale": "zh", "clock_paused_minutes": 0, "updated_at": received})
                serials += [{"case_id": i + 1, "serial": f"SN{rng.randrange(10**7):07d}-{n}"} for n in (1, 2)]
            session.execute(insert(Case), rows)
            session.execute(insert(CaseSerial), serials)


def timed(fn, repeat: int) -> dict[str, float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    p95 = samples[int(len(samples) * 0.95) - 1]
    return {"median_ms": round(statistics.median(samples), 2), "p95_ms": round(p95, 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--database-url", default="sqlite:///instance/bench_alerts.db")
    parser.add_argument("--repeat", type=int, default=100)
    args = parser.parse_args()
    upgrade(args.database_url)
    os.environ["DATABASE_URL"] = args.database_url
    from app import create_app

    create_app().app_context().push()  # the alert e-mails are rendered from the app's templates
    database = Database(args.database_url)
    fill(database, args.cases)
    clock.set(NOW)
    rng = random.Random(11)
    actor = Actor.system("bench")

    def new_case(session, fresh: bool = False) -> Case:
        tag = "NEW-" if fresh else ""  # fresh: matches nothing (the look-ups only, no cluster to form)
        case = Case(number=f"FB-N-{secrets.token_hex(4)}", feedback_type="complaint", customer_name="新客户",
                    product_model=f"{tag}M-{rng.randrange(500)}", batch_no=f"{tag}B-{rng.randrange(5000)}",
                    serial_numbers=f"SN{rng.randrange(10**7):07d}-1\nSN{rng.randrange(10**7):07d}-2",
                    status="open", received_at=NOW, public_token=secrets.token_hex(12), data={})
        session.add(case)
        session.flush()
        alerts.project_intake(session, case)
        return case

    def evaluate() -> None:
        with database.session() as session:
            alerts.evaluate(session, new_case(session), actor)
            session.rollback()

    def evaluate_no_match() -> None:
        with database.session() as session:
            alerts.evaluate(session, new_case(session, fresh=True), actor)
            session.rollback()

    def related() -> None:
        with database.session() as session:
            alerts.related(session, new_case(session))
            session.rollback()

    results = {"cases": args.cases, "dialect": database.dialect,
               "evaluate_forming_clusters": timed(evaluate, args.repeat),
               "evaluate_no_match": timed(evaluate_no_match, args.repeat), "related": timed(related, args.repeat)}
    results["ok"] = all(r["p95_ms"] <= TARGET_MS for r in results.values() if isinstance(r, dict))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
