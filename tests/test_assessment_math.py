"""Assessment arithmetic: the tiered logistics split on both bases, lateness penalties, a week's figures."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.services.assessment_math import (
    Split,
    assess_week,
    lateness_penalty,
    logistics_base,
    logistics_split,
    money,
    tier_base,
)

D = Decimal


# Hand-computed: base by tier, head = base × 20 %, responsible = the rest (≈ 80 %).
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


def test_a_shared_case_on_both_bases():
    # 1,000 yuan shared by two departments: tiers on the whole cost give 500 (250 each),
    # tiers on each half give 300 + 300 = 600
    total = logistics_split(1000, 2, "total_cost")
    share = logistics_split(1000, 2, "per_share")
    assert total == Split(D("250.00"), D("50.00"), D("200.00"))
    assert share == Split(D("300.00"), D("60.00"), D("240.00"))
    whole = Split(D("500.00"), D("100.00"), D("400.00"))
    assert logistics_split(1000) == logistics_split(1000, 1, "per_share") == whole


def test_money_is_rounded_once_from_the_exact_amount():
    # 1,000.01 shared by three on per_share: 333.3366… → 100 + 233.3366… × 50 % = 216.6683…
    split = logistics_split("1000.01", 3, "per_share")
    assert (split.base, split.head, split.responsible) == (D("216.67"), D("43.33"), D("173.34"))
    # on total_cost: 300 + 500.01 × 40 % = 500.004, ÷ 3 = 166.668 → 166.67, head 33.3336 → 33.33
    assert logistics_split("1000.01", 3) == Split(D("166.67"), D("33.33"), D("133.34"))
    assert tier_base("100.01") == D("100.005")  # exact: no rounding inside the tiers


@pytest.mark.parametrize(("departments", "basis"), [(0, "total_cost"), (True, "total_cost"), (2, "both")])
def test_logistics_split_rejects_bad_sharing(departments, basis):
    with pytest.raises(ValueError):
        logistics_split(100, departments, basis)


ROWS = [
    {"case_no": "FB-001", "department": "production", "late_measure_days": 2, "late_execution_days": 1},
    {"case_no": "FB-002", "department": "purchasing", "late_measure_days": 0, "late_execution_days": 3},
    {"case_no": "FB-003", "department": "production", "late_measure_days": 1, "late_execution_days": None},
    {"case_no": "FB-004", "department": "production", "late_measure_days": 0, "late_execution_days": 0},
    {"case_no": "FB-004", "department": "technical", "late_measure_days": 0, "late_execution_days": 1,
     "edit_reason": "按记录更正"},
]
LOGISTICS = [
    {"case_no": "FB-001", "freight": 80, "loss": 41},
    {"case_no": "FB-002", "freight": "600", "loss": 0},
    {"case_no": "FB-003", "freight": 45.5, "loss": ""},
    {"case_no": "FB-004", "freight": "700", "loss": "300"},
    {"case_no": "FB-004", "freight": "0", "loss": None},
    {"case_no": "FB-999", "freight": "12", "loss": "0"},
    {"case_no": "FB-998", "freight": "0", "loss": "0"},
]


def test_assess_week():
    result = assess_week(ROWS, LOGISTICS, "total_cost")
    items = {(i["case_no"], i["department"]): i for i in result["items"]}
    # FB-001: penalties 2 × 10, 1 × 20; cost 121 → base 100 + 21 × 50 % = 110.50
    assert items[("FB-001", "production")] == {
        "case_no": "FB-001", "department": "production", "late_measure_days": 2, "late_execution_days": 1,
        "edit_reason": None, "measure_penalty": "20.00", "execution_penalty": "20.00", "case_cost": "121.00",
        "sharing": 1, "logistics_cost": "121.00", "logistics_basis": "total_cost", "logistics_base": "110.50",
        "head_share": "22.10", "responsible_share": "88.40", "head_total": "62.10",
    }
    # FB-002: 3 × 20 = 60; cost 600 → base 300 + 100 × 40 % = 340
    second = items[("FB-002", "purchasing")]
    assert (second["execution_penalty"], second["head_share"], second["responsible_share"]) == (
        "60.00", "68.00", "272.00")
    assert second["head_total"] == "128.00"
    # FB-003: empty fields count as 0; 45.50 in tier 1
    third = items[("FB-003", "production")]
    assert (third["late_execution_days"], third["logistics_cost"], third["head_total"]) == (0, "45.50", "19.10")
    # FB-004: 1,000 shared by production and technical → 250 each
    shared = items[("FB-004", "technical")]
    assert (shared["sharing"], shared["logistics_cost"], shared["logistics_base"], shared["head_share"]) == (
        2, "500.00", "250.00", "50.00")
    assert shared["head_total"] == "70.00" and shared["edit_reason"] == "按记录更正"
    totals = result["totals"]
    assert list(totals) == ["production", "purchasing", "technical"]
    assert totals["production"] == {
        "cases": 3, "measure_penalty": "30.00", "execution_penalty": "20.00", "logistics_cost": "666.50",
        "head_share": "81.20", "responsible_share": "324.80", "head_total": "131.20", "logistics_basis": "total_cost",
        "department_total": "456.00",
    }  # head 22.10 + 9.10 + 50; penalties 50; the department breaks down 131.20 + 324.80
    assert result["departments"] == ["production", "purchasing", "technical"]
    assert result["unmatched"] == [{"case_no": "FB-999", "freight": "12.00", "loss": "0.00"}]


def test_assess_week_per_share_and_default():
    assert assess_week(ROWS, LOGISTICS) == assess_week(ROWS, LOGISTICS, None) == assess_week(
        ROWS, LOGISTICS, "total_cost")
    shared = next(i for i in assess_week(ROWS, LOGISTICS, "per_share")["items"] if i["department"] == "technical")
    assert (shared["logistics_base"], shared["head_share"], shared["logistics_basis"]) == (
        "300.00", "60.00", "per_share")


def test_assess_week_merges_rows_of_a_case_and_department():
    rows = [{"case_no": "FB-9", "department": "quality", "late_measure_days": 1},
            {"case_no": "FB-9", "department": "quality", "late_execution_days": 2},
            {"case_no": "FB-9", "department": "", "late_measure_days": 9}]  # no department: ignored
    [item] = assess_week(rows, [{"case_no": "FB-9", "freight": 10}])["items"]
    assert (item["late_measure_days"], item["late_execution_days"], item["sharing"]) == (1, 2, 1)
    assert item["head_total"] == "52.00"  # 10 + 40 + 10 × 20 %


def test_a_week_without_amounts():
    result = assess_week([{"case_no": "X", "department": "warehouse"}], [])
    assert result["departments"] == [] and result["totals"]["warehouse"]["head_total"] == "0.00"
    assert assess_week([], None) == {"items": [], "totals": {}, "departments": [], "unmatched": []}


@pytest.mark.parametrize(
    ("rows", "logistics", "where"),
    [
        ([{"case_no": "X", "department": "technical", "late_measure_days": -2}], [], "row 1"),
        ([{"case_no": "X", "department": "technical", "late_measure_days": "1.5"}], [], "row 1"),
        ([{"case_no": "X", "department": "technical"}], [{"case_no": "X", "freight": -1}], "logistics row 1"),
        ([{"case_no": "X", "department": "technical"}], [{"case_no": "X", "loss": "lots"}], "logistics row 1"),
    ],
)
def test_assess_week_rejects_bad_numbers(rows, logistics, where):
    with pytest.raises(ValueError, match=where):
        assess_week(rows, logistics)


def test_assess_week_rejects_an_unknown_basis():
    with pytest.raises(ValueError, match="basis"):
        assess_week(ROWS, LOGISTICS, "per_department")
