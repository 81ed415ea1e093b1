"""Assessment (考核) arithmetic: lateness penalties and the logistics-cost split.

Pure functions on :class:`~decimal.Decimal` yuan; no floats. Every amount is computed exactly
from its inputs and rounded once, half up, to the fen. The rules are those of the procedure
(seed 001, §考核):

* department leaders pay 10 yuan per day late in producing measures or a plan and 20 yuan
  per day late in carrying them out;
* the logistics cost of a case (freight + losses, 发生费用) is split between the department head
  (主管, 20 %) and the responsible person (责任者, 80 %) of a tiered base, see
  :func:`logistics_split`. When several departments are responsible for a case, the basis
  (an admin setting) says whether the tiers apply to the case's whole cost before it is shared
  (``total_cost``, the default) or to each department's equal share (``per_share``).

:func:`assess_week` computes a week's figures for the ``weekly_assessment`` diagram (its
``compute`` step calls it as the helper ``assess_week``), as JSON-ready data with the money
as strings ("60.08").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

__all__ = [
    "BASES",
    "DEFAULT_BASIS",
    "DIAGRAM_HELPERS",
    "Split",
    "assess_week",
    "lateness_penalty",
    "logistics_base",
    "logistics_split",
    "money",
    "tier_base",
]

#: Logistics split bases: tiers on the case's whole cost, then shared equally between its
#: responsible departments (``total_cost``); or the cost shared first, tiers on each share.
TOTAL_COST, PER_SHARE = "total_cost", "per_share"
BASES = (TOTAL_COST, PER_SHARE)
DEFAULT_BASIS = TOTAL_COST

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
HEAD_SHARE = Decimal("0.20")
MEASURE_RATE = Decimal(10)  # yuan per day late producing measures / a plan
EXECUTION_RATE = Decimal(20)  # yuan per day late carrying them out

_TIER1_LIMIT = Decimal(100)
_TIER2_LIMIT = Decimal(500)
_TIER2_RATE = Decimal("0.5")
_TIER3_BASE = Decimal(300)  # = 100 + (500 - 100) × 50 %
_TIER3_RATE = Decimal("0.4")

Number = Decimal | int | float | str


def _to_decimal(value: Any, name: str) -> Decimal:
    """A finite Decimal from a Decimal, int, float (via its repr) or numeric string."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number, not a bool")
    if value is None or (isinstance(value, str) and not value.strip()):
        return Decimal(0)
    try:
        result = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise ValueError(f"{name} is not a number: {value!r}") from exc
    if not result.is_finite():
        raise ValueError(f"{name} must be finite")
    return result


def _fen(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def money(value: Number | None) -> Decimal:
    """``value`` in yuan rounded half-up to the fen (None and blank text are 0)."""
    return _fen(_to_decimal(value, "amount"))


@dataclass(frozen=True)
class Split:
    """One department's tiered logistics base and its split between head and responsible person."""

    base: Decimal
    head: Decimal
    responsible: Decimal


def tier_base(cost: Number) -> Decimal:
    """The exact tiered base of a logistics cost C (yuan), not rounded.

    * C ≤ 100: base = C
    * 100 < C ≤ 500: base = 100 + (C − 100) × 50 %
    * C > 500: base = 300 + (C − 500) × 40 %

    The procedure's table writes the tiers as "≤100 / 101–500 / ≥501", which leaves the
    amounts strictly between 100 and 101 and between 500 and 501 (e.g. 100.50, 500.50)
    unassigned. Here the tiers are read as continuous with their boundaries at exactly 100
    and 500: 100.50 → 100 + 0.50 × 50 % = 100.25, 500.50 → 300 + 0.50 × 40 % = 300.20.
    Both formulas agree at the boundaries (100 → 100, 500 → 300), so no amount jumps.

    Negative costs raise ValueError.
    """
    c = _to_decimal(cost, "cost")
    if c < 0:
        raise ValueError("cost must not be negative")
    if c <= _TIER1_LIMIT:
        return c
    if c <= _TIER2_LIMIT:
        return _TIER1_LIMIT + (c - _TIER1_LIMIT) * _TIER2_RATE
    return _TIER3_BASE + (c - _TIER2_LIMIT) * _TIER3_RATE


def logistics_base(cost: Number) -> Decimal:
    """The tiered base of a logistics cost C (yuan), rounded to the fen (see :func:`tier_base`)."""
    return _fen(tier_base(cost))


def logistics_split(cost: Number, departments: int = 1, basis: str = DEFAULT_BASIS) -> Split:
    """One department's part of a case's logistics cost, shared by ``departments`` departments.

    ``total_cost``: base = tiers(C) ÷ n; ``per_share``: base = tiers(C ÷ n) (the same when one
    department is responsible). From the exact base, rounded once each: the base to the fen and
    the head's 20 %; the responsible person bears the rest (≈ 80 %), so the two shares always add
    up to the base. Example: 1,000 yuan shared by two departments is assessed on 250 + 250 = 500
    under ``total_cost`` and on 300 + 300 = 600 under ``per_share``.
    """
    if basis not in BASES:
        raise ValueError(f"logistics basis must be one of {BASES}")
    if isinstance(departments, bool) or not isinstance(departments, int) or departments < 1:
        raise ValueError("departments must be a positive whole number")
    c = _to_decimal(cost, "cost")
    if c < 0:
        raise ValueError("cost must not be negative")
    exact = tier_base(c) / departments if basis == TOTAL_COST else tier_base(c / departments)
    base = _fen(exact)
    head = _fen(exact * HEAD_SHARE)
    return Split(base=base, head=head, responsible=base - head)


def _days(value: Any, name: str) -> Decimal:
    days = _to_decimal(value, name)
    if days < 0:
        raise ValueError(f"{name} must not be negative")
    return days


def lateness_penalty(
    late_measure_days: Number,
    late_execution_days: Number,
    measure_rate: Number = MEASURE_RATE,
    execution_rate: Number = EXECUTION_RATE,
) -> Decimal:
    """The department leader's penalty in yuan for lateness.

    ``late_measure_days`` × ``measure_rate`` (10 yuan/day late producing measures or a plan)
    plus ``late_execution_days`` × ``execution_rate`` (20 yuan/day late carrying them out).
    Negative days or rates raise ValueError.
    """
    measure = _days(late_measure_days, "late_measure_days")
    execution = _days(late_execution_days, "late_execution_days")
    m_rate = _days(measure_rate, "measure_rate")
    e_rate = _days(execution_rate, "execution_rate")
    return _fen(measure * m_rate + execution * e_rate)




def _whole_days(value: Any, name: str) -> int:
    days = _days(value, name)
    if days != days.to_integral_value():
        raise ValueError(f"{name} must be a whole number of days")
    return int(days)


def _text(value: Decimal) -> str:
    return str(_fen(value))


def assess_week(
    rows: Iterable[Mapping[str, Any]],
    logistics_rows: Iterable[Mapping[str, Any]] | None,
    basis: str | None = DEFAULT_BASIS,
    measure_rate: Number = MEASURE_RATE,
    execution_rate: Number = EXECUTION_RATE,
) -> dict[str, Any]:
    """The figures of a weekly assessment, JSON-ready (money as strings with two decimals).

    ``rows``: ``{case_no, department, late_measure_days, late_execution_days, edit_reason}``
    as Quality reviewed them (rows of one case and department are added up; rows without a
    department are ignored); ``logistics_rows``: ``{case_no, freight, loss}`` as Logistics
    entered them (a case's entries are added up). A case's cost is shared by the departments
    listed for it, on ``basis`` (None: the default). Returns ``items`` (one per case and department, with the
    basis that produced the logistics figures), ``totals`` (per department: sums of its
    items), ``departments`` (those with an amount to break down, sorted) and ``unmatched``
    (logistics entries of cases not on the list). Bad numbers raise ValueError naming the row.
    """
    basis = basis or DEFAULT_BASIS
    if basis not in BASES:
        raise ValueError(f"logistics basis must be one of {BASES}")
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for index, row in enumerate(rows):
        department = str(row.get("department") or "").strip()
        if not department:
            continue
        case_no = str(row.get("case_no") or "").strip()
        try:
            measure = _whole_days(row.get("late_measure_days"), "late_measure_days")
            execution = _whole_days(row.get("late_execution_days"), "late_execution_days")
        except ValueError as exc:
            raise ValueError(f"row {index + 1}: {exc}") from exc
        entry = merged.setdefault((case_no, department), {"measure": 0, "execution": 0, "reasons": []})
        entry["measure"] += measure
        entry["execution"] += execution
        if row.get("edit_reason"):
            entry["reasons"].append(str(row["edit_reason"]))
    costs: dict[str, Decimal] = {}
    unmatched = []
    listed = {case_no for case_no, _dept in merged}
    for index, line in enumerate(logistics_rows or []):
        case_no = str(line.get("case_no") or "").strip()
        try:
            freight, loss = money(line.get("freight")), money(line.get("loss"))
        except ValueError as exc:
            raise ValueError(f"logistics row {index + 1}: {exc}") from exc
        if freight < 0 or loss < 0:
            raise ValueError(f"logistics row {index + 1}: freight and loss must not be negative")
        if case_no not in listed:
            if freight or loss:
                unmatched.append({"case_no": case_no, "freight": _text(freight), "loss": _text(loss)})
            continue
        costs[case_no] = costs.get(case_no, ZERO) + freight + loss
    sharing: dict[str, int] = {}
    for case_no, _dept in merged:
        sharing[case_no] = sharing.get(case_no, 0) + 1

    items: list[dict[str, Any]] = []
    for (case_no, department), entry in merged.items():
        cost, n = costs.get(case_no, ZERO), sharing[case_no]
        split = logistics_split(cost, n, basis)
        measure_penalty = lateness_penalty(entry["measure"], 0, measure_rate, execution_rate)
        execution_penalty = lateness_penalty(0, entry["execution"], measure_rate, execution_rate)
        items.append({
            "case_no": case_no, "department": department,
            "late_measure_days": entry["measure"], "late_execution_days": entry["execution"],
            "edit_reason": "; ".join(entry["reasons"]) or None,
            "measure_penalty": _text(measure_penalty), "execution_penalty": _text(execution_penalty),
            "case_cost": _text(cost), "sharing": n, "logistics_cost": _text(cost / n),
            "logistics_basis": basis, "logistics_base": _text(split.base),
            "head_share": _text(split.head), "responsible_share": _text(split.responsible),
            "head_total": _text(measure_penalty + execution_penalty + split.head),
        })

    fields = ("measure_penalty", "execution_penalty", "logistics_cost", "head_share", "responsible_share",
              "head_total")
    sums: dict[str, dict[str, Decimal]] = {}
    cases: dict[str, set[str]] = {}
    for item in items:
        acc = sums.setdefault(item["department"], dict.fromkeys(fields, ZERO))
        for field in fields:
            acc[field] += Decimal(item[field])
        cases.setdefault(item["department"], set()).add(item["case_no"])
    totals = {
        department: {"cases": len(cases[department]), **{k: _text(v) for k, v in acc.items()},
                     # what the head breaks down to the people responsible (the breakdown must add up)
                     "department_total": _text(acc["head_total"] + acc["responsible_share"]),
                     "logistics_basis": basis}
        for department, acc in sorted(sums.items())
    }
    departments = [d for d, acc in sorted(sums.items()) if acc["head_total"] + acc["responsible_share"] > 0]
    return {"items": items, "totals": totals, "departments": departments, "unmatched": unmatched}


#: The helpers the diagrams may call besides the engine's (the app factory hands them to the runtime).
DIAGRAM_HELPERS = {"assess_week": assess_week}
