"""The benchmark (`make bench`; `BENCH_SCALE=small make bench` in under 5 minutes).

One run, so that ratios hold on a noisy machine:
1. the engine floor on the real complaint process (SpiffWorkflow alone);
2. the app over HTTP through gunicorn, production configuration, every hook and a scheduler
   process sending the e-mails, on SQLite and PostgreSQL, 1 and 8 concurrent clients;
3. SQL statements per completion (a counting wrapper around the same app, bench only);
4. inbox, case search and dashboard at 10k and 100k cases (PostgreSQL, cloned in bulk);
5. timers at volume with two scheduler processes (lease + failover guard);
6. a worker's memory over many requests; database bytes per case driven to the reply.
Writes bench/results.json and bench/results.md and prints the report (docs/benchmarks.md).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import machine, servers  # noqa: E402
from bench.load import run_clients  # noqa: E402
from bench.reference import summary as reference_summary  # noqa: E402

SCALES: dict[str, dict[str, Any]] = {
    "small": {"floor_repeat": 5, "cases_1": 2, "cases_8": 1, "sql_cases": 1, "bulk": (1_000, 10_000),
              "reference_instances": (4, 6),
              "page_repeat": 20, "timers": 300, "timer_window_s": 30, "rss_requests": 1_000,
              "rss_budget_s": 120, "page_budget_s": 15},
    "full": {"floor_repeat": 20, "cases_1": 10, "cases_8": 4, "sql_cases": 3, "bulk": (10_000, 100_000),
             "reference_instances": (10, 20),
             "page_repeat": 100, "timers": 10_000, "timer_window_s": 180, "rss_requests": 10_000,
             "rss_budget_s": 900, "page_budget_s": 60},
}

#: target key → (description, figure, "<=" or ">=", bound); inbox growth is checked on its own
TARGETS: dict[str, tuple[str, str, str, float]] = {
    "completions_8_clients_pg": ("≥ 150 completions/s on PostgreSQL, 8 clients — real complaint workload "
                                 "(7 tasks, a department inbox, the case and the submit per task)",
                                 "app_completions_per_s_postgres", ">=", 150),
    "completions_8_clients_pg_reference": ("≥ 150 completions/s on PostgreSQL, 8 clients — reference workload "
                                           "(8 trivial sequential tasks, the issue's)",
                                           "reference_completions_per_s_postgres", ">=", 150),
    "completions_8_clients_pg_reference_with_emails": (
        "≥ 150 completions/s on PostgreSQL, 8 clients — reference workload with the e-mails its completions "
        "queue sent", "reference_completions_per_s_postgres_with_emails", ">=", 150),
    "floor_ratio_pg": ("one completion ≤ 15× the engine floor on PostgreSQL (1 client, p50)",
                       "ratio_completion_to_floor_postgres", "<=", 15),
    "floor_ratio_sqlite": ("one completion ≤ 8× the engine floor on SQLite (1 client, p50)",
                           "ratio_completion_to_floor_sqlite", "<=", 8),
    "sql_statements": ("≤ 12 SQL statements per completion", "sql_statements_per_completion", "<=", 12),
    "inbox_100k": ("inbox p95 ≤ 50 ms at 100k cases", "inbox_p95_ms_100k", "<=", 50),
    "inbox_growth": ("inbox p95 at 100k ≤ 1.5× its value at 10k", "inbox_growth_10k_to_100k", "<=", 1.5),
    "search_100k": ("search p95 ≤ 100 ms at 100k cases", "search_p95_ms_100k", "<=", 100),
    "dashboard_100k": ("dashboard p95 ≤ 300 ms at 100k cases", "dashboard_p95_ms_100k", "<=", 300),
    "timer_lag": ("timer lag p95 ≤ 1 s", "timer_lag_p95_s", "<=", 1),
    "double_fires": ("zero double fires with two schedulers", "timer_double_fires", "<=", 0),
    "worker_memory": ("worker memory grows ≤ 10 % over the requests", "worker_rss_growth_pct", "<=", 10),
}


def verdict(summary: dict[str, Any], figure: str, op: str, bound: float) -> bool | None:
    """Met, missed, or None when the figure was not measured."""
    value = summary.get(figure)
    if value is None:
        return None
    return value <= bound if op == "<=" else value >= bound


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


class SmtpSink:
    """A local SMTP server that accepts the outbox's e-mails (``bench.smtp_sink``, its own process)."""

    def __init__(self) -> None:
        import socket

        self.port = servers.free_port()
        self.proc = servers.Proc([sys.executable, "-m", "bench.smtp_sink", str(self.port)], dict(os.environ),
                                 "smtp-sink")
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                if self.proc.popen.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the SMTP sink did not start: {self.proc.log.read_text()[-2000:]}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        self.proc.stop()


def app_phase(backend: str, p: dict[str, Any], smtp: SmtpSink, out: dict[str, Any]) -> servers.Db:
    """The app over HTTP on one database; returns the database (PostgreSQL: kept for later phases)."""
    db = servers.Db(backend)
    mail = {"MAIL_PORT": str(smtp.port), "OUTBOX_INTERVAL_SECONDS": "1"}
    sched = servers.scheduler(db, **mail)
    proc, base = servers.gunicorn(db, **mail)
    try:
        bytes_before = db.bytes_used()
        log(f"{backend}: 1 client, {p['cases_1']} cases")
        one = run_clients(base, 1, p["cases_1"])
        log(f"{backend}: {one['completions_per_s']} completions/s, submit p50 {one['latency_ms']['submit']['p50']} ms")
        log(f"{backend}: 8 clients, {p['cases_8']} cases each")
        eight = run_clients(base, 8, p["cases_8"])
        log(f"{backend}: {eight['completions_per_s']} completions/s, {eight['errors']} errors")
        cases = one["cases_started"] + eight["cases_started"] + 2  # +2 warm-up cases
        out[backend] = {"clients_1": one, "clients_8": eight,
                        "db_bytes_per_case": round((db.bytes_used() - bytes_before) / cases)}
    finally:
        proc.stop()
        sched.stop()
    return db


def sql_phase(db: servers.Db, p: dict[str, Any]) -> dict[str, Any]:
    counts = servers.WORKDIR / "sql-count.txt"
    proc, base = servers.gunicorn(db, app="bench.sqlcount_wsgi:app", workers=1, threads=1,
                                  BENCH_COUNT_SQL=str(counts))
    try:
        counts.write_text("")
        run_clients(base, 1, p["sql_cases"])
    finally:
        proc.stop()
    per_kind: dict[str, list[int]] = {}
    for line in counts.read_text().splitlines():
        method, path, n = line.split()
        kind = ("submit" if path.endswith("/complete") else "start" if method == "POST" and path == "/api/v1/cases"
                else "case_page" if path.startswith("/api/v1/cases/") else "inbox" if path.startswith("/api/v1/tasks")
                else None)
        if kind:
            per_kind.setdefault(kind, []).append(int(n))
    return {kind: round(sum(v) / len(v), 1) for kind, v in per_kind.items()}


def reference_phase(p: dict[str, Any], smtp: SmtpSink, out: dict[str, Any]) -> None:
    """The issue's reference workload (8 sequential trivial tasks) on PostgreSQL: bench/reference.py."""
    from bench import reference

    out["reference"] = reference.phase(p, smtp.port, log)


def bulk_phase(p: dict[str, Any], out: dict[str, Any]) -> None:
    """Grow one PostgreSQL database to each size of ``p["bulk"]`` (bench/bulk.py) and measure the
    pages at each. ``BENCH_KEEP_DB=1`` keeps the database (its URL is logged) for profiling."""
    from bench import bulk, pages

    db = servers.Db("postgres")
    proc, base = servers.gunicorn(db)
    try:
        filler = bulk.Filler(db.url, bulk.make_templates(base))
        for size in p["bulk"]:
            t = time.perf_counter()
            took = filler.grow_to(size)
            counts = filler.counts()
            log(f"bulk: {counts} in {time.perf_counter() - t:.0f} s ({took}); measuring pages")
            measured = pages.measure(base, p["page_repeat"], p["page_budget_s"], closed_case=filler.closed_case())
            log("pages: " + ", ".join(f"{k} p95 {v.get('p95')} ms" for k, v in measured.items()))
            out[f"pages_{size // 1000}k"] = {"counts": counts, "fill_s": took,
                                             "load_average": [round(x, 2) for x in os.getloadavg()], **measured}
    finally:
        proc.stop()
        if os.environ.get("BENCH_KEEP_DB") == "1":
            log(f"kept {db.url} (drop it: DROP DATABASE \"{db.name}\")")
        else:
            db.drop()


def timer_phase(p: dict[str, Any], smtp: SmtpSink) -> dict[str, Any]:
    from bench.timers import timer_run

    db = servers.Db("postgres")
    # BENCH_TIMERS / BENCH_TIMER_WINDOW_S override the scale's; a window of 0 makes a backlog
    # (every timer due at once), whose drain rate is the active scheduler's capacity
    count = int(os.environ.get("BENCH_TIMERS", p["timers"]))
    window_s = float(os.environ.get("BENCH_TIMER_WINDOW_S", p["timer_window_s"]))
    try:
        return timer_run(db, count, window_s,
                         lambda: servers.scheduler(db, MAIL_PORT=str(smtp.port)))
    finally:
        db.drop()


def rss_phase(db: servers.Db, p: dict[str, Any]) -> dict[str, Any]:
    """One sync worker; its RSS after a warm-up and after ``rss_requests`` more mixed requests."""
    from bench import pages

    proc, base = servers.gunicorn(db, workers=1, threads=1)
    try:
        worker = servers.worker_pids(proc.pid)[0]
        session = pages.web_session(base, "quality")
        bearer = {"Authorization": f"Bearer {session.headers['X-Bench-Token']}"}
        case_ids = [c["id"] for c in session.get(f"{base}/api/v1/cases?limit=20", headers=bearer, timeout=60)
                    .json().get("cases", [])] or [1]
        paths = ["/inbox/", "/api/v1/tasks?scope=department&limit=50"] + [
            f"/api/v1/cases/{i}" for i in case_ids[:5]] + [f"/cases/{i}" for i in case_ids[:3]]

        def hit(n: int, budget_s: float) -> int:
            """``n`` requests, or as many as fit in ``budget_s`` on a busy machine."""
            budget = time.monotonic() + budget_s
            for i in range(n):
                if time.monotonic() > budget:
                    return i
                path = paths[i % len(paths)]
                session.get(f"{base}{path}", headers=bearer if path.startswith("/api/") else {}, timeout=60)
            return n

        hit(max(50, p["rss_requests"] // 20), p["rss_budget_s"] / 4)  # imports, caches, pools settle
        before = servers.rss_kb(worker)
        t = time.perf_counter()
        done = hit(p["rss_requests"], p["rss_budget_s"])
        after = servers.rss_kb(worker)
        return {"requests": done, "requests_planned": p["rss_requests"], "rss_kb_after_warmup": before,
                "rss_kb_after": after,
                "growth_pct": round((after - before) * 100 / before, 2),
                "requests_per_s_1_sync_worker": round(done / (time.perf_counter() - t), 1)}
    finally:
        proc.stop()


def summarize(d: dict[str, Any]) -> dict[str, Any]:
    floor = d["engine_floor"]["ms_per_task"]

    def sub(backend: str, clients: int) -> float:
        return d[backend][f"clients_{clients}"]["latency_ms"]["submit"]["p50"]

    def page(size: str, key: str, percentile: str = "p95") -> float | None:
        found = d.get(f"pages_{size}", {}).get(key)
        return found.get(percentile) if found and found["available"] else None

    return {
        "engine_floor_ms_per_task": floor,
        "app_completions_per_s_sqlite": d["sqlite"]["clients_8"]["completions_per_s"],
        "app_completions_per_s_postgres": d["postgres"]["clients_8"]["completions_per_s"],
        "app_completions_per_s_sqlite_1_client": d["sqlite"]["clients_1"]["completions_per_s"],
        "app_completions_per_s_postgres_1_client": d["postgres"]["clients_1"]["completions_per_s"],
        "app_ms_per_completion_sqlite": sub("sqlite", 1),
        "app_ms_per_completion_postgres": sub("postgres", 1),
        "ratio_completion_to_floor_sqlite": round(sub("sqlite", 1) / floor, 2),
        "ratio_completion_to_floor_postgres": round(sub("postgres", 1) / floor, 2),
        "sql_statements_per_completion": d["sql_statements"].get("submit"),
        "inbox_p95_ms_10k": page("10k", "inbox"),
        "inbox_p95_ms_100k": page("100k", "inbox"),
        "search_p95_ms_100k": page("100k", "search"),
        "dashboard_p95_ms_100k": page("100k", "dashboard"),
        "inbox_growth_10k_to_100k": (round(page("100k", "inbox") / page("10k", "inbox"), 2)
                                     if page("10k", "inbox") and page("100k", "inbox") else None),
        # a request that does no more work with more data: how much the machine itself drifted
        "health_p50_ms_10k": page("10k", "health", "p50"),
        "health_p50_ms_100k": page("100k", "health", "p50"),
        "timer_lag_p95_s": d["timers"]["lag_s"].get("p95"),
        "timer_double_fires": d["timers"]["double_fires"],
        "worker_rss_growth_pct": d["worker_memory"]["growth_pct"],
        "db_bytes_per_closed_case": d["postgres"]["db_bytes_per_case"],
        **(reference_summary(d["reference"]) if "reference" in d else {}),
    }


def phase_only(phase: str, scale: str, p: dict[str, Any]) -> int:
    """``BENCH_ONLY=pages`` or ``BENCH_ONLY=timers``: that phase alone (pages at 10k and 100k, or
    the timers with two schedulers, at the scale's size), written to bench/results-<phase>.json;
    the full run is long on a shared machine."""
    details: dict[str, Any] = {"scale": scale, "parameters": p, "machine": machine.describe(servers.PG_ADMIN),
                               "gunicorn": {"workers": servers.WORKERS, "threads": servers.THREADS}}
    started = time.perf_counter()
    log(f"machine: {details['machine']}")
    if phase == "pages":
        bulk_phase(p, details)
        shown = {k: v for k, v in details.items() if k.startswith("pages_")}
    else:
        smtp = SmtpSink()
        try:
            details["timers"] = timer_phase(p, smtp)
        finally:
            smtp.stop()
        shown = {"timers": details["timers"]}
    details["seconds"] = round(time.perf_counter() - started, 1)
    details["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    (ROOT / "bench" / f"results-{phase}.json").write_text(json.dumps(details, indent=2, ensure_ascii=False,
                                                                       default=str) + "\n")
    print(json.dumps(shown, indent=2, ensure_ascii=False))
    return 0


def main() -> int:
    scale = os.environ.get("BENCH_SCALE", "full")
    p = SCALES[scale]
    if os.environ.get("BENCH_SIZES"):  # e.g. BENCH_SIZES=10000,100000
        p = {**p, "bulk": tuple(int(n) for n in os.environ["BENCH_SIZES"].split(","))}
    only = os.environ.get("BENCH_ONLY")
    if only in ("pages", "timers"):
        return phase_only(only, scale, p)
    if only:
        raise SystemExit(f"BENCH_ONLY={only}: expected pages or timers")
    started = time.perf_counter()
    details: dict[str, Any] = {"scale": scale, "parameters": p, "machine": machine.describe(servers.PG_ADMIN),
                               "gunicorn": {"workers": servers.WORKERS, "threads": servers.THREADS}}
    log(f"machine: {details['machine']}")
    log("engine floor")
    from bench.floor import engine_floor

    details["engine_floor"] = engine_floor(p["floor_repeat"])
    log(f"engine floor: {details['engine_floor']['ms_per_task']} ms per task")
    smtp = SmtpSink()
    try:
        app_phase("sqlite", p, smtp, details).drop()
        pg = app_phase("postgres", p, smtp, details)
        try:
            log("SQL statements per request")
            details["sql_statements"] = sql_phase(pg, p)
            log(f"SQL statements: {details['sql_statements']}")
            log("worker memory")
            details["worker_memory"] = rss_phase(pg, p)
            log(f"worker memory: {details['worker_memory']}")
        finally:
            pg.drop()
        log("reference workload: 8 sequential tasks")
        reference_phase(p, smtp, details)
        log("bulk cases and pages")
        bulk_phase(p, details)
        log(f"timers: {p['timers']} within {p['timer_window_s']} s, two schedulers")
        details["timers"] = timer_phase(p, smtp)
        log(f"timers: {details['timers']}")
    finally:
        smtp.stop()
    details["seconds"] = round(time.perf_counter() - started, 1)
    details["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    summary = summarize(details)
    result = {**summary, "targets": {key: {"target": text, "figure": figure, "value": summary.get(figure),
                                           "met": verdict(summary, figure, op, bound)}
                                     for key, (text, figure, op, bound) in TARGETS.items()},
              "details": details}
    from bench.report import markdown

    text = markdown(result)
    (ROOT / "bench" / "results.json").write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str) + "\n")
    (ROOT / "bench" / "results.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
