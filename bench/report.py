"""bench/results.md: the machine, the headline figures, the targets met or missed, the details."""

from __future__ import annotations

from typing import Any

from bench.reference import ISSUE_FLOOR_MS

HEADLINE = (
    ("engine_floor_ms_per_task", "engine floor, ms per task (SpiffWorkflow alone, real complaint process)"),
    ("app_completions_per_s_sqlite", "completions/s, SQLite, 8 clients"),
    ("app_completions_per_s_postgres", "completions/s, PostgreSQL, 8 clients"),
    ("app_completions_per_s_sqlite_1_client", "completions/s, SQLite, 1 client"),
    ("app_completions_per_s_postgres_1_client", "completions/s, PostgreSQL, 1 client"),
    ("app_ms_per_completion_sqlite", "one completion (submit p50, 1 client), SQLite, ms"),
    ("app_ms_per_completion_postgres", "one completion (submit p50, 1 client), PostgreSQL, ms"),
    ("ratio_completion_to_floor_sqlite", "completion ÷ floor, SQLite"),
    ("ratio_completion_to_floor_postgres", "completion ÷ floor, PostgreSQL"),
    ("sql_statements_per_completion", "SQL statements per completion (PostgreSQL)"),
    ("inbox_p95_ms_10k", "inbox p95 at 10k cases, ms"),
    ("inbox_p95_ms_100k", "inbox p95 at 100k cases, ms"),
    ("search_p95_ms_100k", "case search p95 at 100k cases, ms"),
    ("dashboard_p95_ms_100k", "dashboard p95 at 100k cases, ms"),
    ("health_p50_ms_10k", "health check p50 at 10k cases, ms (no more work with more data: the machine's drift)"),
    ("health_p50_ms_100k", "health check p50 at 100k cases, ms"),
    ("timer_lag_p95_s", "timer lag p95, s"),
    ("timer_double_fires", "timer double fires (two schedulers)"),
    ("worker_rss_growth_pct", "worker memory growth, %"),
    ("db_bytes_per_closed_case", "database bytes per case driven to the reply (PostgreSQL)"),
)


def _fmt(value: Any) -> str:
    return "null (not available)" if value is None else str(value)


def _latency_rows(label: str, run: dict[str, Any]) -> list[str]:
    rows = []
    for kind, p in run["latency_ms"].items():
        if p.get("n"):
            rows.append(f"| {label} | {run['clients']} | {kind} | {p['n']} | {p['p50']} | {p['p95']} | {p['p99']} |")
    return rows


def _rounds(run: dict[str, Any] | None) -> str:
    """A run's rounds' throughputs, e.g. "141.2 / 150.3 / 128.9"."""
    return " / ".join(str(r) for r in (run or {}).get("rounds_completions_per_s", [])) or "—"


def _reference_lines(result: dict[str, Any], d: dict[str, Any]) -> list[str]:
    """The reference workload (bench/reference.py) beside the real one: the issue's 8 trivial tasks."""
    ref = d.get("reference")
    if not ref:
        return []
    lines = ["", "## Reference workload: 8 sequential trivial tasks (the issue's), PostgreSQL", "",
             "Not the complaint process: one lane, a one-field form per task, no case. Compare the issue's "
             "57 completions/s with this, and the complaint workload's figures above with each other.", "",
             "| figure | reference (8 trivial tasks) | real complaint workload (7 tasks) |", "|---|---|---|",
             f"| engine floor, ms per task | {result.get('reference_engine_floor_ms')} | "
             f"{result.get('engine_floor_ms_per_task')} |",
             f"| completions/s, 8 clients (the median of rounds {_rounds(ref.get('clients_8'))}) | "
             f"{result.get('reference_completions_per_s_postgres')} | {result.get('app_completions_per_s_postgres')} |",
             f"| completions/s, 8 clients, scaled to the issue's machine (floor {ISSUE_FLOOR_MS} ms; this "
             f"machine {result.get('reference_machine_speed_vs_issue')}× its speed; an estimate by the floor "
             "alone, which moved unlike the throughput between sessions: the share of the stack's bound "
             "below compares machines better) | "
             f"{result.get('reference_completions_per_s_postgres_at_issue_speed')} | |",
             f"| the stack's bound, completions/s, 8 clients (bench/stack_bound.py: bare Flask, SQLAlchemy "
             f"Core, SpiffWorkflow, six statements, no hooks; rounds {_rounds(ref.get('stack_bound_8'))}, "
             "each after the app's round of the same number) | "
             f"{result.get('reference_stack_bound_completions_per_s_postgres')} | |",
             f"| the app's share of the stack's bound (same run, same machine) | "
             f"{result.get('reference_share_of_stack_bound')} | |",
             f"| completions/s, 8 clients, reading the instance before each submit | "
             f"{result.get('reference_completions_per_s_postgres_read_each')} | |",
             f"| completions/s, 1 client | {result.get('reference_completions_per_s_postgres_1_client')} | "
             f"{result.get('app_completions_per_s_postgres_1_client')} |",
             f"| submit p50, 1 client, ms | {result.get('reference_ms_per_completion_postgres')} | "
             f"{result.get('app_ms_per_completion_postgres')} |",
             f"| completion ÷ floor | {result.get('reference_ratio_completion_to_floor_postgres')} | "
             f"{result.get('ratio_completion_to_floor_postgres')} |",
             f"| SQL statements per completion | {result.get('reference_sql_statements_per_completion')} | "
             f"{result.get('sql_statements_per_completion')} |",
             f"| e-mails the median 8-client round left unsent (2 per completion, sent by the scheduler while "
             f"the clients run); seconds until the scheduler had sent them | "
             f"{result.get('reference_emails_unsent_after_8_clients')}; "
             f"{result.get('reference_emails_sent_after_s')} s | |",
             f"| CPU per completion sending its e-mails (the scheduler's; after the round, the database's "
             f"too), ms | {result.get('reference_email_cpu_ms_per_completion')} | |",
             f"| completions/s, 8 clients, with their e-mails sent (the CPU the sending took after the round "
             f"spread over the cores and added to the round's time; the median of rounds "
             f"{(ref.get('clients_8') or {}).get('rounds_completions_per_s_with_emails')}) | "
             f"{result.get('reference_completions_per_s_postgres_with_emails')} | |",
             "", "| clients | request | n | p50 | p95 | p99 |", "|---|---|---|---|---|---|"]
    for name, label in (("clients_1", "1"), ("clients_8", "8"), ("clients_8_read_each", "8, reading each"),
                        ("stack_bound_8", "8, the stack's bound")):
        run = ref.get(name)
        if run is None:
            continue
        lines += [f"| {label} | {kind} | {p['n']} | {p['p50']} | {p['p95']} | {p['p99']} |"
                  for kind, p in run["latency_ms"].items() if p.get("n")]
        lines.append(f"| {label} | errors | {run['errors']} | | | |")
    return lines


def markdown(result: dict[str, Any]) -> str:
    d = result["details"]
    m = d["machine"]
    lines = [
        "# Benchmark results",
        "",
        f"Scale `{d['scale']}`, {d['seconds']} s. Method: docs/benchmarks.md. Raw figures: bench/results.json.",
        "",
        "## Machine",
        "",
        f"- CPU: {m['cpu']}, {m['cores']} cores; RAM {m['ram_gb']} GB; {m['os']}",
        f"- load average at start {m['load_average_at_start']}, at end {m.get('load_average_at_end')} "
        "(the machine is shared: figures are comparable within this run)",
        f"- Python {m['python']}, SQLite {m['sqlite']}, PostgreSQL {m['postgresql']}, SpiffWorkflow "
        f"{m['SpiffWorkflow']}, Flask {m['Flask']}, SQLAlchemy {m['SQLAlchemy']}, psycopg {m['psycopg']}, "
        f"gunicorn {m['gunicorn']} ({d['gunicorn']['workers']} workers × {d['gunicorn']['threads']} threads)",
        "",
        "## Figures",
        "",
        "| figure | value |",
        "|---|---|",
    ]
    lines += [f"| {label} (`{key}`) | {_fmt(result.get(key))} |" for key, label in HEADLINE]
    lines += ["", "## Targets (issue 16)", "", "| target | measured | result |", "|---|---|---|"]
    for target in result["targets"].values():
        met = target["met"]
        verdict = "met" if met else "not measured" if met is None else "MISSED"
        lines.append(f"| {target['target']} | {_fmt(target['value'])} | {verdict} |")
    lines += ["", "## Latency over HTTP (ms)", "", "| database | clients | request | n | p50 | p95 | p99 |",
              "|---|---|---|---|---|---|---|"]
    for backend in ("sqlite", "postgres"):
        for clients in (1, 8):
            lines += _latency_rows(backend, d[backend][f"clients_{clients}"])
    lines += ["", "| database | clients | cases started/s | completions/s | errors |", "|---|---|---|---|---|"]
    for backend in ("sqlite", "postgres"):
        for clients in (1, 8):
            run = d[backend][f"clients_{clients}"]
            lines.append(f"| {backend} | {clients} | {run['cases_started_per_s']} | {run['completions_per_s']} | "
                         f"{run['errors']} |")
    lines += _reference_lines(result, d)
    lines += ["", "## Pages at volume (PostgreSQL, ms)", "", "| cases | page | p50 | p95 | p99 | note |",
              "|---|---|---|---|---|---|"]
    for size in [key[len("pages_"):] for key in d if key.startswith("pages_")]:
        block = d[f"pages_{size}"]
        for key in ("health", "inbox", "inbox_mine", "search", "dashboard", "api_inbox", "approvals", "case_page"):
            page = block.get(key)
            if page is None:
                continue
            if page["available"]:
                lines.append(f"| {size} | {key} `{page['path']}` | {page['p50']} | {page['p95']} | {page['p99']} | |")
            else:
                lines.append(f"| {size} | {key} | | | | {page['note']} |")
        if block:
            lines.append(f"| {size} | rows | | | | {block['counts']} |")
            if block.get("fill_s"):
                lines.append(f"| {size} | filled in (s) | | | | {block['fill_s']}; "
                             f"load average {block.get('load_average')} |")
    t = d["timers"]
    lines += ["", "## Timers", "",
              f"{t['timers']} timers due within {t['window_s']} s, {t['schedulers']} scheduler processes "
              f"({t['active_schedulers']} active by the lease): fired {t['fired']}, not fired {t['not_fired']}, "
              f"double fires {t['double_fires']}; lag p50 {t['lag_s'].get('p50')} s, p95 {t['lag_s'].get('p95')} s, "
              f"p99 {t['lag_s'].get('p99')} s, max {t['lag_max_s']} s.",
              "", "## Worker memory and SQL", "", f"- worker memory: {d['worker_memory']}",
              f"- SQL statements per request (PostgreSQL, mean): {d['sql_statements']}",
              f"- engine floor per task (ms, wall): {d['engine_floor']['ms_per_task_each']}; "
              f"CPU {d['engine_floor']['cpu_ms_per_task']} ms per task; "
              f"state {d['engine_floor']['state_bytes_mean']} bytes",
              ""]
    return "\n".join(lines)
