"""Assessment (考核) arithmetic: lateness penalties and the logistics-cost split.

Pure functions on :class:`~decimal.Decimal` yuan, rounded ROUND_HALF_UP to 0.01. The rules
are those of the procedure (seed 001, §考核):

* department leaders pay 10 yuan per day late in producing measures or a plan and 20 yuan
  per day late in carrying them out;
* the logistics cost of a case (freight + losses) is split between the department head
  (主管, 20 %) and the responsible person (责任者, 80 %) of a tiered base, see
  :func:`logistics_split`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

__all__ = [
    "AssessmentLine",
    "DepartmentTotals",
    "Split",
    "assess_rows",
    "lateness_penalty",
    "logistics_base",
    "logistics_split",
    "money",
    "totals_by_department",
]

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
HEAD_SHARE = Decimal("0.20")
RESPONSIBLE_SHARE = Decimal("0.80")
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


def money(value: Number) -> Decimal:
    """``value`` in yuan rounded half-up to the cent."""
    return _to_decimal(value, "amount").quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Split:
    """A logistics cost's tiered base and its split between head and responsible person."""

    base: Decimal
    head: Decimal
    responsible: Decimal


def logistics_base(cost: Number) -> Decimal:
    """The tiered base of a logistics cost C (yuan), rounded to the cent.

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
        base = c
    elif c <= _TIER2_LIMIT:
        base = _TIER1_LIMIT + (c - _TIER1_LIMIT) * _TIER2_RATE
    else:
        base = _TIER3_BASE + (c - _TIER2_LIMIT) * _TIER3_RATE
    return base.quantize(CENT, rounding=ROUND_HALF_UP)


def logistics_split(cost: Number) -> Split:
    """Split a logistics cost: head = base × 20 %, responsible person = base × 80 %.

    The base is rounded to the cent first and both shares are rounded from it; the two
    shares always add up to the base (20 % of a whole number of cents never ends in a
    half cent, so the roundings cannot both go the same way). See :func:`logistics_base`
    for the tiers and for amounts between 500 and 501.
    """
    base = logistics_base(cost)
    head = (base * HEAD_SHARE).quantize(CENT, rounding=ROUND_HALF_UP)
    responsible = (base * RESPONSIBLE_SHARE).quantize(CENT, rounding=ROUND_HALF_UP)
    return Split(base=base, head=head, responsible=responsible)


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
    return (measure * m_rate + execution * e_rate).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class AssessmentLine:
    """One case × responsible department of the weekly assessment."""

    case_number: str
    department: str
    late_measure_days: Decimal
    late_execution_days: Decimal
    measure_penalty: Decimal
    execution_penalty: Decimal
    freight: Decimal
    loss: Decimal
    logistics_cost: Decimal  # freight + loss
    logistics_base: Decimal
    head_share: Decimal
    responsible_share: Decimal
    head_total: Decimal  # measure_penalty + execution_penalty + head_share


@dataclass(frozen=True)
class DepartmentTotals:
    """Sums of a department's assessment lines.

    ``cases`` counts distinct case numbers. ``split_of_total`` applies the tiers to the
    department's summed logistics cost instead of case by case (the procedure's column
    header "部门总费用比例" can be read that way); because the tiers are regressive it is
    at most the sum of the per-case shares.
    """

    department: str
    cases: int
    lines: int
    measure_penalty: Decimal
    execution_penalty: Decimal
    logistics_cost: Decimal
    head_share: Decimal
    responsible_share: Decimal
    head_total: Decimal
    split_of_total: Split


def assess_rows(
    rows: Iterable[Mapping[str, Any]],
    measure_rate: Number = MEASURE_RATE,
    execution_rate: Number = EXECUTION_RATE,
) -> list[AssessmentLine]:
    """Assessment lines for rows ``{case_number, department, late_measure_days,
    late_execution_days, freight, loss}``.

    Missing or empty numeric fields count as 0; a row without a department raises
    ValueError. Money is rounded to the cent; the logistics split applies to
    freight + loss of the row.
    """
    lines: list[AssessmentLine] = []
    for index, row in enumerate(rows):
        department = str(row.get("department") or "").strip()
        if not department:
            raise ValueError(f"row {index}: department is required")
        try:
            measure_days = _days(row.get("late_measure_days"), "late_measure_days")
            execution_days = _days(row.get("late_execution_days"), "late_execution_days")
            freight = _to_decimal(row.get("freight"), "freight")
            loss = _to_decimal(row.get("loss"), "loss")
            if freight < 0 or loss < 0:
                raise ValueError("freight and loss must not be negative")
            measure_penalty = lateness_penalty(measure_days, 0, measure_rate, execution_rate)
            execution_penalty = lateness_penalty(0, execution_days, measure_rate, execution_rate)
        except ValueError as exc:
            raise ValueError(f"row {index}: {exc}") from exc
        freight, loss = money(freight), money(loss)
        cost = freight + loss
        split = logistics_split(cost)
        lines.append(
            AssessmentLine(
                case_number=str(row.get("case_number") or ""),
                department=department,
                late_measure_days=measure_days,
                late_execution_days=execution_days,
                measure_penalty=measure_penalty,
                execution_penalty=execution_penalty,
                freight=freight,
                loss=loss,
                logistics_cost=cost,
                logistics_base=split.base,
                head_share=split.head,
                responsible_share=split.responsible,
                head_total=measure_penalty + execution_penalty + split.head,
            )
        )
    return lines


def totals_by_department(lines: Iterable[AssessmentLine]) -> dict[str, DepartmentTotals]:
    """Per-department sums of ``lines``, in order of first appearance."""
    sums: dict[str, dict[str, Any]] = {}
    cases: dict[str, set[str]] = {}
    fields = (
        "measure_penalty",
        "execution_penalty",
        "logistics_cost",
        "head_share",
        "responsible_share",
        "head_total",
    )
    for line in lines:
        acc = sums.setdefault(line.department, {"lines": 0, **dict.fromkeys(fields, ZERO)})
        acc["lines"] += 1
        cases.setdefault(line.department, set()).add(line.case_number)
        for field in fields:
            acc[field] += getattr(line, field)
    return {
        dept: DepartmentTotals(
            department=dept,
            cases=len(cases[dept]),
            split_of_total=logistics_split(acc["logistics_cost"]),
            **acc,
        )
        for dept, acc in sums.items()
    }
