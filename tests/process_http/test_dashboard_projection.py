"""The dashboard's projections written by the runtime hook as the production diagrams run."""

from __future__ import annotations

from sqlalchemy import select

from app.data.models import CaseMatchKey, CaseRootCause, Department
from tests.process_http.payloads import EIGHT_D, analysis, intake, verify_ok


def test_an_8d_report_projects_its_root_cause(flow, prod_app):
    case_id = flow.open_case(**intake(serial_numbers="SN9 SN10"))
    flow.verify(case_id, verify_ok())
    flow.complete("quality", "preliminary", analysis(), case_id)
    flow.complete("production", "report", {**EIGHT_D, "d4_root_cause_category": "material"}, case_id)
    with prod_app.extensions["database"].transaction() as session:
        causes = session.execute(select(CaseRootCause.category, Department.code).join(
            Department, Department.id == CaseRootCause.department_id).where(CaseRootCause.case_id == case_id)).all()
        assert causes == [("material", "production")]
        keys = set(session.execute(select(CaseMatchKey.kind, CaseMatchKey.value)
                                   .where(CaseMatchKey.case_id == case_id)).tuples())
        # as the early warning reads them, and the type that makes the case count
        assert keys == {("model", "XK-200"), ("serial", "SN9"), ("serial", "SN10"), ("type", "complaint")}
