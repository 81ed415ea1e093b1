"""Demo cases for ``flask seed-demo``: complaints with batch numbers, three about one product
model and batch, so the demo has an alert on repeated problems to look at."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.data.models import Case, ProcessDefinition, User
from app.engine.runtime import WorkflowRuntime
from app.services import accounts
from app.services.cases import MAIN_PROCESS, open_case

DEMO_CUSTOMER = "演示客户"
DEMO_CASES: tuple[dict[str, Any], ...] = (
    {"customer_name": f"{DEMO_CUSTOMER}·华东机电", "product_model": "XK-200", "batch_no": "B2411-07",
     "serial_numbers": "XK2411-0012\nXK2411-0013", "description": "设备运行10分钟后报警停机", "defective_qty": 2},
    {"customer_name": f"{DEMO_CUSTOMER}·苏州精工", "product_model": "XK-200", "batch_no": "B2411-07",
     "serial_numbers": "XK2411-0208", "description": "开机后主轴异响", "defective_qty": 1},
    {"customer_name": f"{DEMO_CUSTOMER}·宁波五金", "product_model": "XK-200", "batch_no": "B2411-07",
     "serial_numbers": "XK2411-0311", "description": "运行中报警停机,重启后复现", "defective_qty": 3},
    {"customer_name": f"{DEMO_CUSTOMER}·杭州电器", "product_model": "ZT-50", "batch_no": "C2410-02",
     "serial_numbers": "ZT2410-1001", "description": "外壳有裂纹", "defective_qty": 4},
)
COMMON = {"customer_contact": "王工 13800000000", "demands": ["replenish"], "channel": "hotline",
          "feedback_type": "complaint", "category": "quality", "urgency": "important", "customer_language": "zh"}


def seed_demo_cases(session: Session, runtime: WorkflowRuntime) -> list[str]:
    """Open the demo cases (by Marketing) unless there are already some, or the case process is
    not deployed; returns the case numbers opened."""
    if session.scalar(select(ProcessDefinition.id).where(ProcessDefinition.key == MAIN_PROCESS).limit(1)) is None:
        return []
    if session.scalar(select(Case.id).where(Case.customer_name.like(f"{DEMO_CUSTOMER}%")).limit(1)) is not None:
        return []
    marketing = session.scalars(select(User).where(User.username == "marketing")).first()
    if marketing is None:
        return []
    actor = accounts.actor(marketing)
    return [open_case(session, runtime, {**COMMON, **data}, actor).number for data in DEMO_CASES]
