"""Issue 10.6: the deadlines the seeds leave open are on the working-time calendar, so a task
opened late on a Friday is due on Monday and raises no reminder or overdue flag over the
weekend; the 8D report alone keeps the procedure's 48 clock hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.clock import clock
from app.data.models import HumanTask, TaskEscalation
from app.services.escalation import LadderSettings, run_ladder
from tests.process_http.payloads import EIGHT_D, REVIEW_NONE, analysis, intake, verify_ok

SH = timedelta(hours=8)  # Asia/Shanghai is UTC+8 all year


def shanghai(day: int, hour: int, minute: int = 0) -> datetime:
    """A wall-clock time in Shanghai in March 2026 (6 March is a Friday), as UTC."""
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC) - SH


FRIDAY_1600 = shanghai(6, 16)
MONDAY_1600 = shanghai(9, 16)  # Friday 16:00-17:30 + Monday 08:30-12:00 and 13:00-16:00 = 8 working hours


def due(flow, case_id: int, element: str) -> datetime:
    with flow.database.transaction() as session:
        return session.scalars(select(HumanTask.due_at).where(
            HumanTask.case_id == case_id, HumanTask.element_id == element, HumanTask.state == "open")).one()


def ladder(flow, at: datetime) -> list[tuple[str, int]]:
    clock.set(at)
    with flow.app.app_context(), flow.database.transaction() as session:
        return run_ladder(session, at, LadderSettings())


def test_a_task_opened_on_friday_afternoon_is_due_on_monday_and_quiet_over_the_weekend(flow):
    clock.set(FRIDAY_1600)
    case_id = flow.open_case(**intake())
    flow.complete("marketing", "verify", verify_ok(), case_id)
    # half a working day: Friday 16:00-17:30, then Monday 08:30-11:00
    assert due(flow, case_id, "technical_review") == shanghai(9, 11)
    flow.complete("technical", "technical_review", REVIEW_NONE, case_id, via="api")
    assert due(flow, case_id, "preliminary") == MONDAY_1600  # was Saturday 00:00 (8 clock hours)
    with flow.database.transaction() as session:
        preliminary = session.scalars(select(HumanTask.id).where(HumanTask.case_id == case_id,
                                                                 HumanTask.element_id == "preliminary")).one()

    for weekend in (shanghai(6, 23), shanghai(7, 10), shanghai(8, 20), shanghai(9, 8, 29)):
        assert ladder(flow, weekend) == [], weekend
    assert ladder(flow, shanghai(9, 10, 59)) == []
    assert ladder(flow, shanghai(9, 11)) == [(preliminary, 1)]  # reminder 4 working hours before
    assert ladder(flow, MONDAY_1600 - timedelta(seconds=1)) == []
    assert ladder(flow, MONDAY_1600) == [(preliminary, 2)]  # overdue at the due time, on a working day
    with flow.database.transaction() as session:
        row = session.get(TaskEscalation, preliminary)
        assert (row.reminded_at, row.head_at) == (shanghai(9, 11), MONDAY_1600)


def test_every_step_the_seeds_leave_open_is_due_on_working_time(flow):
    clock.set(FRIDAY_1600)
    case_id = flow.open_case(**intake())
    flow.verify(case_id, verify_ok())
    flow.complete("quality", "preliminary", analysis(needs_stock_count=True, approve_shipment=True,
                                                     request_technical=True), case_id)
    for element in ("count_finance", "count_quality", "count_warehouse", "shipment"):
        assert due(flow, case_id, element) == MONDAY_1600, element  # 1 working day (were 24 clock hours)
    assert due(flow, case_id, "technical_reply") == shanghai(10, 16)  # 2 working days (were 48 clock hours)
    for username, element in (("finance", "count_finance"), ("quality", "count_quality"),
                              ("warehouse", "count_warehouse")):
        flow.complete(username, element, {"book_qty": 100, "card_qty": 100, "physical_qty": 105}, case_id,
                      via="api")
    # the 8D report alone keeps the seed's 48 clock hours: due Sunday 16:00
    assert due(flow, case_id, "report") == FRIDAY_1600 + timedelta(hours=48)
    flow.complete("production", "report", EIGHT_D, case_id, via="api")
    assert due(flow, case_id, "verify_8d") == MONDAY_1600  # was Saturday 16:00
    flow.complete("quality", "verify_8d", {"decision": "accept", "reason": "有效"}, case_id, via="api")
    assert due(flow, case_id, "summary") == MONDAY_1600
    flow.complete("quality", "summary", {"measures_summary": "已整改"}, case_id, via="api")
    assert due(flow, case_id, "close_case") == MONDAY_1600
