"""Profile one page in-process (Flask test client, production configuration) on a filled database:
its SQL statements (count, time, the slowest with their text) and a pyinstrument profile.

    DATABASE_URL=postgresql+psycopg://…/benchdb_xxxx .venv/bin/python bench/page_profile.py \\
        --user marketing [--repeat 20] [--profile] "/inbox/?tab=department" "/api/v1/tasks?scope=department&limit=50"

A database filled by the pages phase: ``BENCH_ONLY=pages BENCH_KEEP_DB=1 make bench`` keeps it.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("APP_ENV", "production")
os.environ.setdefault("SECRET_KEY", "bench-secret-key")
os.environ.setdefault("SESSION_COOKIE_SECURE", "false")
os.environ.setdefault("SCHEDULER_ENABLED", "false")

from sqlalchemy import event  # noqa: E402

from app import create_app  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--user", default="marketing")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--profile", action="store_true", help="pyinstrument profile of the last request")
    parser.add_argument("--show-sql", type=int, default=8, help="list the N slowest statements")
    args = parser.parse_args()
    app = create_app()
    statements: list[tuple[float, str]] = []

    @event.listens_for(app.extensions["database"].engine, "before_cursor_execute")
    def _start(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        conn.info["bench_t"] = time.perf_counter()

    @event.listens_for(app.extensions["database"].engine, "after_cursor_execute")
    def _end(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        statements.append(((time.perf_counter() - conn.info.pop("bench_t")) * 1000, statement))

    client = app.test_client()
    page = client.get("/auth/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    assert client.post("/auth/login", data={"username": args.user, "password": "demo", "csrf_token": token}
                       ).status_code == 302
    bearer = client.post("/api/v1/auth/token", json={"username": args.user, "password": "demo"}).get_json()["token"]
    for path in args.paths:
        headers = {"Authorization": f"Bearer {bearer}"} if path.startswith("/api/") else {}
        for _ in range(3):
            assert client.get(path, headers=headers).status_code == 200
        wall, cpu = [], []
        for _ in range(args.repeat):
            statements.clear()
            t, c = time.perf_counter(), time.process_time()
            response = client.get(path, headers=headers)
            wall.append((time.perf_counter() - t) * 1000)
            cpu.append((time.process_time() - c) * 1000)
        sql_ms = sum(ms for ms, _s in statements)
        print(f"{path}: {response.status_code}, {len(response.data)} bytes; wall p50 {statistics.median(wall):.1f} ms, "
              f"CPU p50 {statistics.median(cpu):.1f} ms; {len(statements)} statements, {sql_ms:.1f} ms in SQL")
        for ms, statement in sorted(statements, reverse=True)[:args.show_sql]:
            print(f"  {ms:7.2f} ms  {' '.join(statement.split())[:300]}")
        if args.profile:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0005)
            with profiler:
                for _ in range(5):
                    client.get(path, headers=headers)
            print(profiler.output_text(unicode=True, color=False, show_all=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
