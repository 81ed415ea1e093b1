"""Time every report of the dashboard on a filled database (see bench/seed_analytics.py).

    .venv/bin/python bench/analytics.py --database-url URL [--repeat 20] [--http]
    .venv/bin/python bench/analytics.py --database-url URL --against REV [--metrics a,b] [--repeat 7]

For a month, a quarter and a year ending now, as the General Manager (every department) and as a
department head (their department): median and p95 of each metric computed by the service, and
with ``--http`` of ``GET /api/v1/reports/<metric>`` and ``/dashboard/data/<metric>`` through the
app as both users, plus the ``/dashboard/`` page (target: p95 ≤ 300 ms on PostgreSQL at 100k
cases). Prints a table and the load average. ``--skip-service`` times only through the app.

``--against REV`` compares the metrics as they were at git revision ``REV`` (its query module and
metrics, loaded beside today's) with today's, A/B interleaved on the same database: in every round
each variant answers once through the API (Flask test client; the order alternates per round), so
both see the same load. Prints median, min and p95 per variant and checks both give the same figures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


USERS = ("manager", "production_head")


def _login(client, username: str) -> None:
    html = client.get("/auth/login").get_data(as_text=True)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, "no CSRF token on the login page"
    response = client.post("/auth/login", data={"username": username, "password": "demo",
                                                "csrf_token": match.group(1)})
    assert response.status_code == 302, "login failed"


def _time(client, path: str, args: dict[str, str], headers: dict[str, str], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(path, query_string=args, headers=headers)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    return samples


def bench_http(url: str, repeat: int) -> list[dict[str, object]]:
    """Each report through the app, as the GM and as a department head: the API, the dashboard's data
    calls and the dashboard page itself. Returns the rows printed (for bench/run.py or a report)."""
    from app import create_app
    from config import Config

    class Cfg(Config):
        DATABASE_URL = url
        SCHEDULER_ENABLED = False

    app = create_app(Cfg)
    results: list[dict[str, object]] = []
    print(f"{'user':16} {'endpoint':40} {'period':8} {'median ms':>10} {'p95 ms':>8}")
    for username in USERS:
        api, web = app.test_client(), app.test_client()
        token = api.post("/api/v1/auth/token", json={"username": username, "password": "demo"}).get_json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        _login(web, username)
        for kind, given in PERIODS:
            args = _args(kind, given)
            calls = [("/dashboard/", "/dashboard/", web, {})]
            for metric in analytics.METRICS:
                calls.append((f"/api/v1/reports/{metric}", f"/api/v1/reports/{metric}", api, headers))
                calls.append((f"/dashboard/data/{metric}", f"/dashboard/data/{metric}", web, {}))
            for endpoint, path, client, extra in calls:
                samples = _time(client, path, args, extra, repeat)
                row = {"user": username, "endpoint": endpoint, "period": kind,
                       "median_ms": round(statistics.median(samples), 1), "p95_ms": round(_p95(samples), 1)}
                results.append(row)
                print(f"{username:16} {endpoint:40} {kind:8} {row['median_ms']:10.1f} {row['p95_ms']:8.1f}")
    worst = max(results, key=lambda r: float(str(r["p95_ms"])))
    print(f"worst p95: {worst['p95_ms']} ms ({worst['user']} {worst['endpoint']} {worst['period']}); "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return results


def _module(name: str, source: str) -> types.ModuleType:
    module = types.ModuleType(name)
    sys.modules[name] = module
    exec(compile(source, f"<{name}>", "exec"), module.__dict__)  # noqa: S102 - our own code at a revision
    return module


def metrics_at(revision: str) -> dict[str, Callable[..., dict[str, Any]]]:
    """The METRICS of ``app/services/analytics/metrics.py`` at ``revision``, reading through the query
    module of that revision (both loaded under other names, beside today's)."""
    def show(path: str) -> str:
        return subprocess.run(["git", "show", f"{revision}:{path}"], cwd=ROOT, check=True, capture_output=True,
                              text=True).stdout

    _module("bench_before_queries", show("app/data/queries/analytics.py"))
    source = show("app/services/analytics/metrics.py").replace(
        "from app.data.queries import analytics as q", "import bench_before_queries as q")
    return dict(_module("bench_before_metrics", source).METRICS)


def bench_against(url: str, revision: str, repeat: int, chosen: list[str]) -> None:
    """Before (``revision``) and after, interleaved through the API, as the GM and a head, per period."""
    from app import create_app
    from config import Config

    class Cfg(Config):
        DATABASE_URL = url
        SCHEDULER_ENABLED = False

    before, after = metrics_at(revision), dict(analytics.METRICS)
    app = create_app(Cfg)
    print(f"{'user':16} {'period':8} {'metric':14} {'before med (min) p95':>24} {'after med (min) p95':>24} same")
    for username in USERS:
        client = app.test_client()
        token = client.post("/api/v1/auth/token", json={"username": username, "password": "demo"}).get_json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        for kind, given in PERIODS:
            args = _args(kind, given)
            for metric in chosen:
                samples: dict[str, list[float]] = {"before": [], "after": []}
                bodies: dict[str, Any] = {}
                for round_ in range(repeat):
                    order = ("before", "after") if round_ % 2 == 0 else ("after", "before")
                    for variant in order:
                        analytics.METRICS[metric] = (before if variant == "before" else after)[metric]
                        started = time.perf_counter()
                        response = client.get(f"/api/v1/reports/{metric}", query_string=args, headers=headers)
                        samples[variant].append((time.perf_counter() - started) * 1000)
                        assert response.status_code == 200, (metric, response.status_code)
                        bodies[variant] = response.get_json()["data"]
                analytics.METRICS[metric] = after[metric]
                same = json.dumps(bodies["before"], sort_keys=True) == json.dumps(bodies["after"], sort_keys=True)
                cells = [f"{statistics.median(v):7.0f} ({min(v):4.0f}) {_p95(v):6.0f}" for v in samples.values()]
                print(f"{username:16} {kind:8} {metric:14} {cells[0]:>24} {cells[1]:>24} {same}", flush=True)
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--http", action="store_true")
    parser.add_argument("--skip-service", action="store_true")
    parser.add_argument("--against", metavar="REV", help="compare with the metrics at this git revision (A/B)")
    parser.add_argument("--metrics", help="comma-separated metrics for --against (default: all)")
    args = parser.parse_args()
    if args.against:
        bench_against(args.database_url, args.against, args.repeat,
                      args.metrics.split(",") if args.metrics else list(analytics.METRICS))
        return
    database = Database(args.database_url)
    if not args.skip_service:
        bench_service(database, args.repeat)
    if args.http:
        bench_http(args.database_url, args.repeat)
    database.dispose()


if __name__ == "__main__":
    main()
