"""The benchmark's reference summary: machines of different speeds compared through the floor, and
the app against the stack's bound of the same run."""

from __future__ import annotations

from bench.reference import ISSUE_FLOOR_MS, summary
from bench.report import _reference_lines


def _run(per_s: float) -> dict:
    return {"completions_per_s": per_s, "errors": 0,
            "latency_ms": {"submit": {"n": 10, "p50": 12.0, "p95": 20.0, "p99": 25.0}}}


def test_throughput_is_scaled_to_the_issue_machine_by_the_engine_floor():
    ref = {"engine_floor": {"ms_per_task": 0.27}, "clients_1": _run(40.0), "clients_8": _run(160.0),
           "sql_statements_per_completion": 7.0}
    result = summary(ref)
    assert result["reference_completions_per_s_postgres"] == 160.0  # the target's figure: as measured
    assert result["reference_machine_speed_vs_issue"] == round(ISSUE_FLOOR_MS / 0.27, 2) == 2.0
    assert result["reference_completions_per_s_postgres_at_issue_speed"] == 80.0
    assert result["reference_ratio_completion_to_floor_postgres"] == round(12.0 / 0.27, 2)
    lines = "\n".join(_reference_lines(result, {"reference": ref}))
    assert any("scaled to the issue's machine (floor 0.54 ms; this machine 2.0× its speed;" in line
               and line.endswith("| 80.0 | |") for line in lines.splitlines())
    assert result["reference_stack_bound_completions_per_s_postgres"] is None  # a run without the bound
    assert result["reference_share_of_stack_bound"] is None


def test_the_app_is_read_against_the_stack_bound_of_the_same_run():
    ref = {"engine_floor": {"ms_per_task": 0.5}, "clients_1": _run(40.0), "clients_8": _run(70.0),
           "stack_bound_8": {**_run(175.0), "clients": 8}, "sql_statements_per_completion": 7.0}
    result = summary(ref)
    assert result["reference_stack_bound_completions_per_s_postgres"] == 175.0
    assert result["reference_share_of_stack_bound"] == 0.4
    lines = "\n".join(_reference_lines(result, {"reference": ref}))
    assert "each after the app's round of the same number) | 175.0 |" in lines
    assert "the app's share of the stack's bound (same run, same machine) | 0.4 |" in lines
    assert "| 8, the stack's bound | submit | 10 | 12.0 | 20.0 | 25.0 |" in lines


def test_no_floor_no_scaled_figure():
    ref = {"engine_floor": {"ms_per_task": 0}, "clients_1": _run(40.0), "clients_8": _run(0.0),
           "sql_statements_per_completion": 7.0}
    result = summary(ref)
    assert result["reference_machine_speed_vs_issue"] is None
    assert result["reference_completions_per_s_postgres_at_issue_speed"] is None


def test_the_throughput_is_the_median_round_and_every_round_is_reported():
    from bench.reference import median_round

    rounds = [{**_run(v), "errors": e} for v, e in ((150.0, 0), (120.0, 1), (171.0, 2))]
    app = median_round(rounds)
    assert app["completions_per_s"] == 150.0
    assert app["rounds_completions_per_s"] == [150.0, 120.0, 171.0]
    assert app["errors"] == 3  # every round's, not the median round's
    assert median_round([{**_run(v)} for v in (90.0, 100.0)])["completions_per_s"] == 90.0  # the lower middle
    bound = median_round([{**_run(v)} for v in (400.0, 300.0, 350.0)])
    ref = {"engine_floor": {"ms_per_task": 0.5}, "clients_1": _run(40.0), "clients_8": app,
           "stack_bound_8": bound, "sql_statements_per_completion": 7.0}
    result = summary(ref)
    assert result["reference_completions_per_s_postgres"] == 150.0
    assert result["reference_share_of_stack_bound"] == round(150.0 / 350.0, 2)
    lines = "\n".join(_reference_lines(result, {"reference": ref}))
    assert "the median of rounds 150.0 / 120.0 / 171.0) | 150.0 |" in lines
    assert "rounds 400.0 / 300.0 / 350.0, each after the app's round" in lines


def test_the_emails_left_unsent_are_reported_beside_the_throughput():
    from bench.reference import median_round

    rounds = [{**_run(v), "emails_unsent_at_end": u, "emails_sent_after_s": t}
              for v, u, t in ((150.0, 300, 1.5), (170.0, 500, 2.5), (160.0, 400, 2.0))]
    app = median_round(rounds)
    assert (app["completions_per_s"], app["emails_unsent_at_end"]) == (160.0, 400)  # the median round's
    ref = {"engine_floor": {"ms_per_task": 0.5}, "clients_1": _run(40.0), "clients_8": app,
           "sql_statements_per_completion": 7.0}
    result = summary(ref)
    assert (result["reference_emails_unsent_after_8_clients"], result["reference_emails_sent_after_s"]) == (400, 2.0)
    lines = "\n".join(_reference_lines(result, {"reference": ref}))
    assert "seconds until the scheduler had sent them | 400; 2.0 s | |" in lines


def test_the_throughput_with_the_emails_sent_is_the_median_of_its_own_rounds():
    from bench.reference import median_round

    # the fastest round left the most e-mails: with them sent it is no longer the fastest
    rounds = [{**_run(v), "completions": 400, "email_cpu_s_during": 0.2, "email_cpu_s_after": a,
               "completions_per_s_with_emails": w}
              for v, a, w in ((150.0, 0.4, 130.0), (170.0, 1.2, 120.0), (160.0, 0.8, 125.0))]
    app = median_round(rounds)
    assert app["completions_per_s"] == 160.0
    assert app["median_completions_per_s_with_emails"] == 125.0
    assert app["rounds_completions_per_s_with_emails"] == [130.0, 120.0, 125.0]
    ref = {"engine_floor": {"ms_per_task": 0.5}, "clients_1": _run(40.0), "clients_8": app,
           "sql_statements_per_completion": 7.0}
    result = summary(ref)
    assert result["reference_completions_per_s_postgres_with_emails"] == 125.0
    assert result["reference_email_cpu_ms_per_completion"] == 2.5  # (0.2 + 0.8) s over 400 completions
    lines = "\n".join(_reference_lines(result, {"reference": ref}))
    assert "with their e-mails sent" in lines and "[130.0, 120.0, 125.0]) | 125.0 |" in lines
