"""Assessment arithmetic: the tiered logistics split, lateness penalties, per-department totals."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.services.assessment_math import (
    AssessmentLine,
    Split,
    assess_rows,
    lateness_penalty,
    logistics_base,
    logistics_split,
    money,
    totals_by_department,
)

D = Decimal


# Hand-computed: base by tier, head = base × 20 %, responsible = base × 80 %.
@pytest.mark.parametrize(
    ("cost", "base", "head", "responsible"),
    [
        (0, "0.00", "0.00", "0.00"),
        (50, "50.00", "10.00", "40.00"),
        (100, "100.00", "20.00", "80.00"),  # top of tier 1
        ("100.01", "100.01", "20.00", "80.01"),  # 100 + 0.01 × 50 % = 100.005 → 100.01
        ("100.50", "100.25", "20.05", "80.20"),  # between 100 and 101: tier 2
        (101, "100.50", "20.10", "80.40"),  # 100 + 1 × 50 %
        (250, "175.00", "35.00", "140.00"),  # 100 + 150 × 50 %
        (500, "300.00", "60.00", "240.00"),  # 100 + 400 × 50 %, top of tier 2
        ("500.50", "300.20", "60.04", "240.16"),  # between 500 and 501: tier 3
        (501, "300.40", "60.08", "240.32"),  # 300 + 1 × 40 %
        (10000, "4100.00", "820.00", "3280.00"),  # 300 + 9500 × 40 %
        ("37.37", "37.37", "7.47", "29.90"),  # 7.474 → 7.47, 29.896 → 29.90
    ],
)
def test_logistics_split(cost, base, head, responsible):
    split = logistics_split(cost)
    assert split == Split(base=D(base), head=D(head), responsible=D(responsible))
    assert split.head + split.responsible == split.base
    assert logistics_base(cost) == D(base)


def test_logistics_split_accepts_decimal_and_float():
    assert logistics_split(D("101")) == logistics_split(101) == logistics_split(101.0)
    # The float 0.1 + 0.2 is 0.30000000000000004; it rounds to 0.30.
    assert logistics_split(0.1 + 0.2) == Split(D("0.30"), D("0.06"), D("0.24"))


def test_tiers_are_continuous_at_the_boundaries():
    just = D("0.0001")
    assert logistics_base(D(100) + just) == D("100.00")
    assert logistics_base(D(500) - just) == D("300.00")
    assert logistics_base(D(500) + just) == D("300.00")


def test_shares_always_add_up_to_the_base():
    for cents in range(0, 200_000, 37):
        split = logistics_split(D(cents) / 100)
        assert split.head + split.responsible == split.base


@pytest.mark.parametrize("bad", [-1, "-0.01", D("-100"), "abc", float("nan"), float("inf"), True])
def test_logistics_split_rejects_bad_costs(bad):
    with pytest.raises(ValueError):
        logistics_split(bad)


def test_money_rounds_half_up():
    assert money("2.345") == D("2.35")
    assert money("2.344") == D("2.34")
    assert money(D("0.005")) == D("0.01")


def test_lateness_penalty():
    assert lateness_penalty(0, 0) == D("0.00")
    assert lateness_penalty(1, 0) == D("10.00")
    assert lateness_penalty(0, 1) == D("20.00")
    assert lateness_penalty(3, 2) == D("70.00")  # 3 × 10 + 2 × 20
    assert lateness_penalty(1, 1, measure_rate=15, execution_rate=25) == D("40.00")
    assert lateness_penalty("2", D(4)) == D("100.00")


@pytest.mark.parametrize(
    ("measure", "execution"), [(-1, 0), (0, -1), ("-0.5", 0), ("x", 0), (True, 0)]
)
def test_lateness_penalty_rejects_bad_days(measure, execution):
    with pytest.raises(ValueError):
        lateness_penalty(measure, execution)


def test_lateness_penalty_rejects_negative_rates():
    with pytest.raises(ValueError):
        lateness_penalty(1, 1, measure_rate=-10)


ROWS = [
    {
        "case_number": "FB-001",
        "department": "生产车间",
        "late_measure_days": 2,
        "late_execution_days": 1,
        "freight": 80,
        "loss": 41,
    },
    {
        "case_number": "FB-002",
        "department": "采购部",
        "late_measure_days": 0,
        "late_execution_days": 3,
        "freight": "600",
        "loss": 0,
    },
    {
        "case_number": "FB-003",
        "department": "生产车间",
        "late_measure_days": 1,
        "late_execution_days": None,
        "freight": "45.5",
        "loss": "",
    },
]


def test_assess_rows():
    lines = assess_rows(ROWS)
    assert len(lines) == 3
    first, second, third = lines
    # FB-001: penalties 2 × 10, 1 × 20; cost 121 → base 100 + 21 × 50 % = 110.50.
    assert first == AssessmentLine(
        case_number="FB-001",
        department="生产车间",
        late_measure_days=D(2),
        late_execution_days=D(1),
        measure_penalty=D("20.00"),
        execution_penalty=D("20.00"),
        freight=D("80.00"),
        loss=D("41.00"),
        logistics_cost=D("121.00"),
        logistics_base=D("110.50"),
        head_share=D("22.10"),
        responsible_share=D("88.40"),
        head_total=D("62.10"),
    )
    # FB-002: 3 × 20 = 60; cost 600 → base 300 + 100 × 40 % = 340.
    assert second.measure_penalty == D("0.00")
    assert second.execution_penalty == D("60.00")
    assert second.logistics_cost == D("600.00")
    assert (second.head_share, second.responsible_share) == (D("68.00"), D("272.00"))
    assert second.head_total == D("128.00")
    # FB-003: empty fields count as 0; cost 45.50 in tier 1.
    assert third.late_execution_days == D(0)
    assert third.loss == D("0.00")
    assert third.logistics_cost == D("45.50")
    assert (third.head_share, third.responsible_share) == (D("9.10"), D("36.40"))
    assert third.head_total == D("19.10")  # 10 + 9.10


def test_totals_by_department():
    totals = totals_by_department(assess_rows(ROWS))
    assert list(totals) == ["生产车间", "采购部"]
    prod = totals["生产车间"]
    assert prod.cases == 2
    assert prod.lines == 2
    assert prod.measure_penalty == D("30.00")  # 20 + 10
    assert prod.execution_penalty == D("20.00")
    assert prod.logistics_cost == D("166.50")  # 121 + 45.50
    assert prod.head_share == D("31.20")  # 22.10 + 9.10
    assert prod.responsible_share == D("124.80")  # 88.40 + 36.40
    assert prod.head_total == D("81.20")  # 62.10 + 19.10 = 30 + 20 + 31.20
    # Tiers applied to the department's total instead: 100 + 66.50 × 50 % = 133.25.
    assert prod.split_of_total == Split(D("133.25"), D("26.65"), D("106.60"))
    purch = totals["采购部"]
    assert (purch.cases, purch.head_total, purch.responsible_share) == (
        1,
        D("128.00"),
        D("272.00"),
    )


def test_totals_count_distinct_cases():
    rows = [
        {"case_number": "FB-9", "department": "质量部", "freight": 10},
        {"case_number": "FB-9", "department": "质量部", "loss": 5},
    ]
    total = totals_by_department(assess_rows(rows))["质量部"]
    assert (total.cases, total.lines, total.logistics_cost) == (1, 2, D("15.00"))
    assert total.head_share == D("3.00")  # 2.00 + 1.00


def test_totals_of_nothing():
    assert assess_rows([]) == []
    assert totals_by_department([]) == {}


@pytest.mark.parametrize(
    "row",
    [
        {"case_number": "X", "freight": 1},
        {"case_number": "X", "department": "  ", "freight": 1},
        {"case_number": "X", "department": "技术部", "freight": -1},
        {"case_number": "X", "department": "技术部", "late_measure_days": -2},
        {"case_number": "X", "department": "技术部", "loss": "lots"},
    ],
)
def test_assess_rows_rejects_bad_rows(row):
    with pytest.raises(ValueError, match="row 0"):
        assess_rows([row])
