"""Form data shared by the process tests (engine level and HTTP level) for the production diagrams."""

from __future__ import annotations

from typing import Any


def verify_ok(**overrides: Any) -> dict[str, Any]:
    values = {
        "info_complete": "yes", "verified_description": "报警代码E21,已确认", "onsite_needed": False,
        "temporary_measures": [{"measure": "先补发2台控制板", "owner": "李四", "due_date": "2026-03-04"}],
        "request_type": "replenish", "request_items": [{"item": "控制板", "model": "CB-2", "qty": 2}],
        "request_reason": "客户停线",
    }
    values.update(overrides)
    return values


#: Technical's review of a verified complaint that raises no technical question
REVIEW_NONE = {"review_technical_issue": "no", "review_note": "无技术问题"}


def analysis(**overrides: Any) -> dict[str, Any]:
    values = {"analysis": "疑似焊接不良", "responsible_departments": ["production"],
              "need_more_evidence": False, "approve_shipment": False, "needs_stock_count": False}
    values.update(overrides)
    return values


EIGHT_D = {
    "d0_emergency": "隔离在库同批次产品", "d1_team": [{"member": "张三", "role": "组长"}],
    "d2_what": "控制板虚焊", "d2_where": "二号线", "d2_when": "2月第3周", "d2_who": "夜班",
    "d2_why": "回流焊温度曲线漂移", "d2_how": "客户现场报警", "d2_how_many": 5, "d2_is_not": "一号线无此问题",
    "d3_containment": [{"action": "库存全检", "scope": "stock", "owner": "王五", "due_date": "2026-03-03",
                        "effectiveness": "全检50台无不良"}],
    "d4_root_cause_category": "production",
    "d4_occurrence_cause": "温度曲线未点检", "d4_escape_cause": "出厂测试未覆盖热态",
    "d4_five_why": [{"why": "为什么虚焊"}, {"why": "为什么温度低"}],
    "d5_corrective": [{"action": "增加炉温点检", "owner": "张三", "due_date": "2026-03-10",
                       "verification": "连续两周点检记录"}],
    "d6_implementation": "已实施", "d7_prevention": ["fmea", "control_plan"], "d7_notes": "更新PFMEA",
    "d8_closure": "小组表彰",
}
