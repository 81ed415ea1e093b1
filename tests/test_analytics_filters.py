"""Report periods and the pure helpers of the analytics service."""

from __future__ import annotations

from datetime import date

import pytest

from app.services.analytics.filters import parse_filter
from app.services.analytics.metrics import percentile, satisfaction_index
from app.services.errors import InvalidInput

TODAY = date(2026, 3, 18)  # a Wednesday


@pytest.mark.parametrize(("args", "period", "previous"), [
    ({"period": "week"}, ("2026-03-16", "2026-03-22"), ("2026-03-09", "2026-03-15")),
    ({}, ("2026-03-01", "2026-03-31"), ("2026-02-01", "2026-02-28")),
    ({"period": "quarter", "start": "2026-02-10"}, ("2026-01-01", "2026-03-31"), ("2025-10-01", "2025-12-31")),
    ({"period": "custom", "start": "2026-03-01", "end": "2026-03-10"}, ("2026-03-01", "2026-03-10"),
     ("2026-02-19", "2026-02-28")),
])
def test_periods_and_their_previous_periods(args, period, previous):
    f = parse_filter(args, TODAY)
    p = f.previous()
    assert (f.start.isoformat(), f.end.isoformat()) == period
    assert (p.start.isoformat(), p.end.isoformat()) == previous


@pytest.mark.parametrize("args", [
    {"period": "year"}, {"period": "custom", "start": "2026-03-01"}, {"start": "not-a-date"},
    {"period": "custom", "start": "2026-03-10", "end": "2026-03-01"}, {"start": "1900-01-01"},
    {"period": "custom", "start": "2020-01-01", "end": "2026-01-01"}, {"channel": "x" * 200},
    {"product_model": "A\x00"},
])
def test_bad_filters_are_refused_with_a_message(args):
    with pytest.raises(InvalidInput):
        parse_filter(args, TODAY)


def test_satisfaction_index_and_nearest_rank_percentiles():
    assert satisfaction_index([5, 5]) == 100.0 and satisfaction_index([1]) == 0.0
    assert satisfaction_index([5, 4, 3]) == 75.0 and satisfaction_index([]) is None
    assert percentile([4.0, 2.0], 0.5) == 2.0 and percentile([4.0, 2.0], 0.9) == 4.0
    assert percentile(list(range(1, 11)), 0.9) == 9 and percentile([], 0.5) is None
