"""Form data for the production forms (forms/*.json), as the users would enter it."""

from __future__ import annotations

from typing import Any

from tests.payloads import EIGHT_D, REVIEW_NONE, analysis, verify_ok  # noqa: F401 - re-exported for the HTTP tests

INTAKE = {
    "customer_name": "华东机电有限公司", "customer_contact": "王工 13800000000",
    "customer_email": "wang@example.com", "product_model": "XK-200", "ship_date": "2026-02-20",
    "description": "设备运行10分钟后报警停机", "defective_qty": 5, "serial_numbers": "SN001\nSN002",
    "demands": ["replenish", "onsite"], "channel": "hotline", "feedback_type": "complaint",
    "category": "quality", "urgency": "important",
}


def intake(**overrides: Any) -> dict[str, Any]:
    return {**INTAKE, **overrides}


#: the fields of the 8D report that are required, and nothing else
EIGHT_D_MINIMAL = {
    "d0_emergency": "隔离库存", "d1_team": [{"member": "张三"}], "d2_what": "外壳裂纹",
    "d3_containment": [{"action": "全检"}], "d4_root_cause_category": "production",
    "d4_occurrence_cause": "模具磨损", "d4_escape_cause": "未抽检",
    "d5_corrective": [{"action": "更换模具"}],
}

CLOSE_ACCEPTED = {"reply_to_customer": "改善措施如下……", "reply_channel": "email", "customer_accepted": "yes"}
RETURN_VISIT = {"visit_on": "2026-03-09", "visit_channel": "phone", "customer_satisfied": "yes",
                "visit_notes": "客户满意"}
