"""Time every report of the dashboard on a filled database (see bench/seed_analytics.py).

    .venv/bin/python bench/analytics.py --database-url URL [--repeat 20] [--http]

For a month, a quarter and a year ending now, as the General Manager (every department) and as a
department head (their department): median and p95 of each metric computed by the service, and
with ``--http`` of ``GET /api/v1/reports/<metric>`` and ``/dashboard/data/<metric>`` through the
app (target: p95 ≤ 300 ms on PostgreSQL at 100k cases). Prints a table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from app.clock import local_now  # noqa: E402
from app.data.db import Database  # noqa: E402
from app.data.models import User  # noqa: E402
from app.services import analytics  # noqa: E402
from app.services.analytics.filters import parse_filter  # noqa: E402
from app.services.analytics.naming import Labels  # noqa: E402

PERIODS = (("month", {"period": "month"}), ("quarter", {"period": "quarter"}), ("year", None))


def _p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(0, int(round(0.95 * len(ordered))) - 1)]


def _args(kind: str, given: dict[str, str] | None) -> dict[str, str]:
    if given is not None:
        return given
    today = local_now().date()
    return {"period": "custom", "start": today.replace(year=today.year - 1).isoformat(), "end": today.isoformat()}


def bench_service(database: Database, repeat: int) -> None:
    print(f"{'user':16} {'period':8} {'metric':14} {'median ms':>10} {'p95 ms':>8}")
    for username in ("manager", "production_head"):
        for kind, given in PERIODS:
            for metric in analytics.METRICS:
                samples = []
                for _ in range(repeat):
                    with database.transaction() as session:
                        user = session.scalars(select(User).where(User.username == username)).one()
                        started = time.perf_counter()
                        f = analytics.scoped(session, user, parse_filter(_args(kind, given)))
                        analytics.compute(session, metric, f, Labels(session))
                        samples.append((time.perf_counter() - started) * 1000)
                print(f"{username:16} {kind:8} {metric:14} {statistics.median(samples):10.1f} {_p95(samples):8.1f}")


def bench_http(url: str, repeat: int) -> None:
    from app import create_app
    from config import Config

    class Cfg(Config):
        DATABASE_URL = url
        SCHEDULER_ENABLED = False

    app = create_app(Cfg)
    client = app.test_client()
    token = client.post("/api/v1/auth/token", json={"username": "manager", "password": "demo"}).get_json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    print(f"{'endpoint':40} {'period':8} {'median ms':>10} {'p95 ms':>8}")
    for kind, given in PERIODS:
        for metric in analytics.METRICS:
            samples = []
            for _ in range(repeat):
                started = time.perf_counter()
                response = client.get(f"/api/v1/reports/{metric}", query_string=_args(kind, given), headers=headers)
                samples.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, response.get_json()
            print(f"{'/api/v1/reports/' + metric:40} {kind:8} {statistics.median(samples):10.1f} {_p95(samples):8.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--http", action="store_true")
    args = parser.parse_args()
    database = Database(args.database_url)
    bench_service(database, args.repeat)
    if args.http:
        bench_http(args.database_url, args.repeat)
    database.dispose()


if __name__ == "__main__":
    main()
