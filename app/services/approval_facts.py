"""What the approver decides on, per approval kind, read from the task's data (read-only):
one function per kind, so a new kind adds a function and a row in ``FACTS`` and ``FIELDS``.

The screen lists items without loading their workflows: when an item opens, the task data its
kind's facts read (``FIELDS``) is kept with its ``human_task`` row (:func:`kept_data`), and the
facts are built from that. An open task's data does not change until it is completed."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from app.engine.codec import jsonable

Facts = dict[str, Any]


def _money(value: Any) -> Decimal:
    try:
        return Decimal(str(value or 0))
    except (InvalidOperation, ValueError):
        return Decimal(0)


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [row for row in value or [] if isinstance(row, dict)]


def shipment(data: dict[str, Any], request: dict[str, Any] | None) -> Facts:
    """The verified request (items, reason, return arrangement) and the freight cost."""
    source = request or data
    return {
        "request_type": source.get("request_type"), "request_items": source.get("request_items") or [],
        "request_reason": source.get("request_reason"), "return_arrangement": source.get("return_arrangement"),
        "freight_cost": data.get("freight_cost"),
    }


def eight_d(data: dict[str, Any], request: dict[str, Any] | None) -> Facts:
    """The department's 8D: round, lateness, root causes, corrective actions and evidence."""
    return {
        "department": data.get("dept"), "round": data.get("eight_d_round"),
        "late_measure_days": data.get("measure_late_days"), "overdue": bool(data.get("eight_d_overdue")),
        "occurrence_cause": data.get("d4_occurrence_cause"), "escape_cause": data.get("d4_escape_cause"),
        "corrective": [row.get("action") for row in _dicts(data.get("d5_corrective"))],
        "evidence": _dicts(data.get("eight_d_attachments")),
    }


def execution(data: dict[str, Any], request: dict[str, Any] | None) -> Facts:
    """The carried-out corrective actions: round, deadline, days late, actions and evidence."""
    return {
        "department": data.get("dept"), "round": data.get("execution_round"), "due_at": data.get("execution_due_at"),
        "late_days": (data.get("execution_reports") or [{}])[-1].get("late_days"),
        "overdue": bool(data.get("execution_overdue")),
        "actions": _dicts(data.get("actions")),
        "evidence": _dicts(data.get("execution_attachments")),
    }


def closure(data: dict[str, Any], request: dict[str, Any] | None) -> Facts:
    """Each department's 8D result and the case's freight cost."""
    return {
        "results": [
            {"department": r.get("department"), "accepted": r.get("accepted"), "rounds": r.get("rounds"),
             "late_measure_days": r.get("late_measure_days")}
            for r in _dicts(data.get("eight_d_results"))
        ],
        "freight_cost": data.get("freight_cost"), "close_rounds": data.get("close_rounds"),
    }


def sign_off(data: dict[str, Any], request: dict[str, Any] | None, *, after_quality: bool) -> Facts:
    """The week's assessment: per-department totals, sums, and the earlier sign-offs."""
    totals = data.get("assessment_totals") or {}
    rows = [{"department": code, **values} for code, values in sorted(totals.items()) if isinstance(values, dict)]
    return {
        "week_start": data.get("week_start"), "week_end": data.get("week_end"), "totals": rows,
        "penalties": sum((_money(r.get("measure_penalty")) + _money(r.get("execution_penalty")) for r in rows),
                         Decimal(0)),
        "logistics": sum((_money(r.get("logistics_cost")) for r in rows), Decimal(0)),
        "grand_total": sum((_money(r.get("head_total")) + _money(r.get("responsible_share")) for r in rows),
                           Decimal(0)),
        "cases": len({i.get("case_no") for i in _dicts(data.get("assessment_items"))}),
        "unmatched_logistics": len(data.get("unmatched_logistics") or []),
        "quality_sign_off": data.get("quality_sign_off") if after_quality else None,
        "rejections": data.get("rejections"),
    }


FACTS: dict[str, Callable[[dict[str, Any], dict[str, Any] | None], Facts]] = {
    "shipment": shipment,
    "eight_d": eight_d,
    "execution": execution,
    "closure": closure,
    "sign_quality": lambda data, request: sign_off(data, request, after_quality=False),
    "sign_gm": lambda data, request: sign_off(data, request, after_quality=True),
}


_SIGN_OFF = ("assessment_totals", "week_start", "week_end", "assessment_items", "unmatched_logistics",
             "quality_sign_off", "rejections")
#: the task data each kind's facts are built from (the keys its function in FACTS reads)
FIELDS: dict[str, tuple[str, ...]] = {
    "shipment": ("request_type", "request_items", "request_reason", "return_arrangement", "freight_cost"),
    "eight_d": ("dept", "eight_d_round", "measure_late_days", "eight_d_overdue", "d4_occurrence_cause",
                "d4_escape_cause", "d5_corrective", "eight_d_attachments"),
    "execution": ("dept", "execution_round", "execution_due_at", "execution_reports", "execution_overdue",
                  "actions", "execution_attachments"),
    "closure": ("eight_d_results", "freight_cost", "close_rounds"),
    "sign_quality": _SIGN_OFF,
    "sign_gm": _SIGN_OFF,
}


def kept_data(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """The part of a task's ``data`` the facts of ``kind`` are built from, as plain JSON (dates as
    ISO text, decimals as text: the facts and the screen read them alike)."""
    return {name: jsonable(data[name]) for name in FIELDS.get(kind, ()) if name in data}


def facts_for(kind: str, data: dict[str, Any], request: dict[str, Any] | None) -> Facts:
    """The facts of an approval item of ``kind`` (empty for a kind without any)."""
    build = FACTS.get(kind)
    return build(data, request) if build is not None else {}
