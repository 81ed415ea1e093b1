"""bench/completion_budget.py's accounting: each step keeps only its own time."""

from __future__ import annotations

import time

from bench.completion_budget import Budget


def _spin(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_a_step_called_by_another_is_not_counted_twice():
    budget = Budget()
    inner = budget.wrap("inner", lambda: _spin(0.02))

    def outer_body() -> None:
        _spin(0.01)
        inner()
        inner()

    outer = budget.wrap("outer", outer_body)
    start = time.thread_time()
    outer()
    total = time.thread_time() - start
    assert set(budget.own) == {"outer", "inner"}
    assert budget.own["inner"] >= 0.04  # both calls
    assert 0.01 <= budget.own["outer"] < 0.02  # its own spin only, not the inner calls'
    assert abs(budget.own["outer"] + budget.own["inner"] - total) < 0.005
