"""Issue 10.7: the customer's clock. A complaint's first answer is due 1 working day after it was
received and its resolution 3 (urgent: the first answer in 2 working hours); the clock is on
track, at risk when less than a quarter of its limit is left, breached at the due time, paused
while we wait for the customer, and its outcome is recorded on the case for the reports.
Urgent complaints get shorter step deadlines along the whole path, so that the standard path
fits the promise even when every step takes its full deadline."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from app.clock import clock
from app.data.models import Case, HumanTask, TaskState
from app.engine.calendar import set_default_calendar
from app.scheduler.runner import build_scheduler, customer_clock_job
from app.services import calendar_admin, customer_clock
from app.services.cases import open_case
from app.services.public import CUSTOMER, intake_from_public
from tests.process_http.payloads import CLOSE_ACCEPTED, EIGHT_D, REVIEW_NONE, analysis, intake, verify_ok

SH = timedelta(hours=8)  # Asia/Shanghai is UTC+8 all year


def shanghai(day: int, hour: int, minute: int = 0) -> datetime:
    """A wall-clock time in Shanghai in March 2026 (2 March is a Monday), as UTC."""
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC) - SH


MONDAY_0900 = shanghai(2, 9)


def at(flow, when: datetime) -> None:
    """Move the clock; API tokens expire, so the users sign in again."""
    clock.set(when)
    flow._headers.clear()


def case_row(flow, case_id: int) -> Case:
    with flow.database.transaction() as session:
        case = session.get(Case, case_id)
        session.expunge(case)
        return case


def refresh_at(flow, when: datetime) -> int:
    """The scheduler's job at ``when``: moves the stored states whose time has come."""
    at(flow, when)
    return customer_clock_job(flow.app)


def state(flow, case_id: int) -> tuple[str | None, datetime | None]:
    case = case_row(flow, case_id)
    return case.clock_state, case.clock_state_until


def live(flow, case_id: int) -> customer_clock.ClockView:
    return customer_clock.view(case_row(flow, case_id), clock.now())


def due(flow, case_id: int, element: str) -> datetime:
    with flow.database.transaction() as session:
        return session.scalars(select(HumanTask.due_at).where(
            HumanTask.case_id == case_id, HumanTask.element_id == element, HumanTask.state == TaskState.OPEN)).one()


def test_a_complaint_is_on_track_at_risk_and_breached_at_the_right_moments(flow):
    at(flow, MONDAY_0900)
    case_id = flow.open_case(**intake())
    case = case_row(flow, case_id)
    # 1 working day: Monday 09:00-12:00 and 13:00-17:30 (7.5 h), Tuesday 08:30-09:00
    assert case.first_answer_due_at == shanghai(3, 9)
    assert case.resolution_due_at == shanghai(5, 9)  # 3 working days
    # at risk with a quarter (2 working hours) left: Monday 16:00
    assert (case.clock_state, case.clock_state_until) == ("on_track", shanghai(2, 16))
    assert live(flow, case_id) == customer_clock.ClockView("on_track", "first_answer", shanghai(3, 9), 8.0)

    assert refresh_at(flow, shanghai(2, 15, 59)) == 0
    assert state(flow, case_id) == ("on_track", shanghai(2, 16))
    assert refresh_at(flow, shanghai(2, 16)) == 1
    assert state(flow, case_id) == ("at_risk", shanghai(3, 9))
    assert live(flow, case_id).hours_left == 2.0
    # the evening and the night do not count: still 30 working minutes left on Tuesday 08:00
    assert refresh_at(flow, shanghai(3, 8)) == 0
    assert live(flow, case_id) == customer_clock.ClockView("at_risk", "first_answer", shanghai(3, 9), 0.5)
    page = flow.client("marketing").get(f"/cases/{case_id}").get_data(as_text=True)
    assert 'data-state="at_risk"' in page and "剩余 30 工作分钟" in page
    assert refresh_at(flow, shanghai(3, 8, 59)) == 0
    assert refresh_at(flow, shanghai(3, 9)) == 1
    assert state(flow, case_id) == ("breached", None)
    assert live(flow, case_id).state == "breached"

    # Marketing verifies an hour late: the first answer is recorded as late, the resolution runs
    at(flow, shanghai(3, 10))
    flow.verify(case_id, verify_ok())
    case = case_row(flow, case_id)
    assert (case.first_answer_at, case.first_answer_met, case.first_answer_minutes) == (shanghai(3, 10), False, 540)
    # a quarter of 3 working days (6 h) left: Wednesday 11:00
    assert (case.clock_state, case.clock_state_until) == ("on_track", shanghai(4, 11))
    assert live(flow, case_id) == customer_clock.ClockView("on_track", "resolution", shanghai(5, 9), 15.0)

    listing = flow.client("marketing").get("/cases/").get_data(as_text=True)
    assert 'data-state="on_track"' in listing and "剩余 1.9 个工作日" in listing
    inbox = flow.client("quality").get("/inbox/?tab=department").get_data(as_text=True)
    assert 'data-testid="inbox-clock"' in inbox and 'data-state="on_track"' in inbox

    assert refresh_at(flow, shanghai(4, 10, 59)) == 0
    assert refresh_at(flow, shanghai(4, 11)) == 1
    assert state(flow, case_id) == ("at_risk", shanghai(5, 9))
    at_risk = flow.client("marketing").get("/cases/?clock=at_risk").get_data(as_text=True)
    assert 'data-testid="case-row"' in at_risk
    assert 'data-testid="case-row"' not in flow.client("marketing").get("/cases/?clock=breached").get_data(as_text=True)
    assert refresh_at(flow, shanghai(5, 9)) == 1
    assert state(flow, case_id) == ("breached", None)
    assert 'data-testid="case-row"' in flow.client("marketing").get("/cases/?clock=breached").get_data(as_text=True)
    assert live(flow, case_id).hours_left == 0.0
    at(flow, shanghai(5, 10))
    assert live(flow, case_id) == customer_clock.ClockView("breached", "resolution", shanghai(5, 9), -1.0)
    page = flow.client("marketing").get(f"/cases/{case_id}").get_data(as_text=True)
    assert 'data-state="breached"' in page and "超时 1 工作小时" in page


def test_waiting_for_the_customer_pauses_the_resolution_clock(flow):
    at(flow, MONDAY_0900)
    case_id = flow.open_case(**intake())
    at(flow, shanghai(2, 10))
    flow.complete("marketing", "verify", verify_ok(info_complete="no", missing_info="铭牌照片"), case_id)
    case = case_row(flow, case_id)
    assert (case.first_answer_at, case.first_answer_met, case.first_answer_minutes) == (shanghai(2, 10), True, 60)
    at(flow, shanghai(2, 11))
    flow.complete("marketing", "info_request", {"question": "请提供铭牌照片", "request_channel": "phone"}, case_id)
    case = case_row(flow, case_id)
    assert (case.clock_state, case.clock_paused_at, case.clock_state_until) == ("paused", shanghai(2, 11), None)
    at(flow, shanghai(3, 11))
    view = live(flow, case_id)
    # frozen at the moment the wait began: Monday 11:00 to Thursday 09:00 is 22 working hours
    assert (view.state, view.clock, view.hours_left) == ("paused", "resolution", 22.0)
    assert refresh_at(flow, shanghai(4, 9)) == 0  # nothing moves while paused

    # the customer answers on Tuesday 11:00: 8 working hours waited, the due time moves by them
    at(flow, shanghai(3, 11))
    flow.complete("marketing", "customer_reply", {"reply_text": "照片已发", "reply_received_at": "2026-03-03T11:00"},
                  case_id, via="api")
    case = case_row(flow, case_id)
    assert (case.clock_paused_at, case.clock_paused_minutes) == (None, 480)
    assert case.resolution_due_at == shanghai(6, 9)  # Thursday 09:00 + 1 working day
    assert (case.clock_state, case.clock_state_until) == ("on_track", shanghai(5, 11))
    assert "等待客户" in flow.client("marketing").get(f"/cases/{case_id}").get_data(as_text=True)


def test_an_urgent_complaint_has_short_deadlines_and_its_standard_path_keeps_the_promise(flow):
    """Every step done exactly at its deadline: the reply still comes in time."""
    at(flow, MONDAY_0900)
    case_id = flow.open_case(**intake(urgency="urgent"))
    case = case_row(flow, case_id)
    assert (case.first_answer_due_at, case.resolution_due_at) == (shanghai(2, 11), shanghai(5, 9))
    assert due(flow, case_id, "verify") == shanghai(2, 11)  # 2 working hours (general: 4)

    at(flow, shanghai(2, 11))
    flow.complete("marketing", "verify", verify_ok(), case_id)
    assert due(flow, case_id, "technical_review") == shanghai(2, 14)  # 2 working hours (general: 4)
    assert due(flow, case_id, "preliminary") == shanghai(2, 14)  # 2 working hours (general: 1 working day)
    flow.complete("technical", "technical_review", REVIEW_NONE, case_id, via="api")
    case = case_row(flow, case_id)
    assert (case.first_answer_met, case.first_answer_minutes, case.clock_state) == (True, 120, "on_track")

    at(flow, shanghai(2, 14))
    flow.complete("quality", "preliminary", analysis(), case_id)
    # the 8D report keeps the procedure's 48 clock hours whatever the urgency
    assert due(flow, case_id, "report") == shanghai(4, 14)
    at(flow, shanghai(4, 14))
    flow.complete("production", "report", EIGHT_D, case_id, via="api")
    assert due(flow, case_id, "verify_8d") == shanghai(4, 16)  # 2 working hours (general: 1 working day)
    at(flow, shanghai(4, 16))
    flow.complete("quality", "verify_8d", {"decision": "accept", "reason": "有效"}, case_id, via="api")
    assert due(flow, case_id, "summary") == shanghai(4, 17)  # 1 working hour
    at(flow, shanghai(4, 17))
    flow.complete("quality", "summary", {"measures_summary": "措施见8D"}, case_id, via="api")
    assert due(flow, case_id, "close_case") == shanghai(5, 9)  # 1 working hour: 17:00-17:30, 08:30-09:00
    assert refresh_at(flow, shanghai(5, 8, 59)) == 0
    assert state(flow, case_id) == ("at_risk", shanghai(5, 9))  # a quarter left since Wednesday 11:00

    at(flow, shanghai(5, 9))
    flow.complete("marketing", "close_case", CLOSE_ACCEPTED, case_id, via="api")
    case = case_row(flow, case_id)
    assert (case.resolved_at, case.resolution_met, case.resolution_minutes) == (shanghai(5, 9), True, 24 * 60)
    assert (case.clock_state, case.clock_state_until) == ("met", None)
    assert case.status == "open"  # closed after the return visit; the promise was kept at the reply
    assert live(flow, case_id) == customer_clock.ClockView("met")
    api = flow.case("marketing", case_id)["customer_clock"]
    assert (api["state"], api["first_answer_met"], api["resolution_met"], api["resolution_minutes"]) == (
        "met", True, True, 1440)


def test_urgent_deadlines_off_the_standard_path(flow):
    at(flow, MONDAY_0900)
    case_id = flow.open_case(**intake(urgency="urgent"))
    flow.complete("marketing", "verify", verify_ok(info_complete="no", missing_info="序列号"), case_id)
    assert due(flow, case_id, "info_request") == shanghai(2, 11)  # 2 working hours (general: 1 working day)
    flow.complete("marketing", "info_request", {"question": "请提供序列号", "request_channel": "phone"}, case_id)
    flow.complete("marketing", "customer_reply", {"reply_text": "SN001"}, case_id, via="api")
    flow.complete("marketing", "verify", verify_ok(onsite_needed=True), case_id)
    assert due(flow, case_id, "onsite") == shanghai(3, 9)  # 1 working day (general: 2)
    flow.complete("technical", "technical_review", REVIEW_NONE, case_id, via="api")
    flow.complete("marketing", "onsite", {"visit_date": "2026-03-02", "engineer": "赵工", "findings": "确认"},
                  case_id, via="api")
    flow.complete("quality", "preliminary", analysis(responsible_departments=[], approve_shipment=True,
                                                     needs_stock_count=True, request_technical=True), case_id)
    assert due(flow, case_id, "shipment") == shanghai(2, 14)  # 4 working hours
    assert due(flow, case_id, "technical_reply") == shanghai(3, 9)  # 1 working day (general: 2)
    for element in ("count_finance", "count_quality", "count_warehouse"):
        assert due(flow, case_id, element) == shanghai(2, 14), element  # 4 working hours (general: 1 day)
    for username, element in (("finance", "count_finance"), ("quality", "count_quality"),
                              ("warehouse", "count_warehouse")):
        flow.complete(username, element, {"book_qty": 100, "card_qty": 100, "physical_qty": 105}, case_id,
                      via="api")
    assert due(flow, case_id, "assign_departments") == shanghai(2, 11)  # 2 working hours (general: 1 day)


def test_a_reply_the_customer_rejects_does_not_resolve_and_an_answered_consultation_does(flow):
    at(flow, MONDAY_0900)
    consultation = flow.open_case(**intake(feedback_type="consultation"))
    case = case_row(flow, consultation)
    assert (case.first_answer_due_at, case.resolution_due_at) == (shanghai(3, 9), shanghai(3, 9))
    at(flow, shanghai(3, 10))
    flow.complete("marketing", "answer_close", {"answer": "保修一年", "reply_channel": "phone"}, consultation)
    case = case_row(flow, consultation)
    assert (case.first_answer_met, case.resolution_met, case.resolution_minutes) == (False, False, 540)
    assert (case.clock_state, case.status) == ("missed", "closed")

    at(flow, MONDAY_0900)
    complaint = flow.open_case(**intake())
    flow.verify(complaint, verify_ok())
    flow.complete("quality", "preliminary", analysis(), complaint)
    flow.complete("production", "report", EIGHT_D, complaint, via="api")
    flow.complete("quality", "verify_8d", {"decision": "accept", "reason": "有效"}, complaint, via="api")
    flow.complete("quality", "summary", {"measures_summary": "措施见8D"}, complaint, via="api")
    flow.complete("marketing", "close_case", {**CLOSE_ACCEPTED, "customer_accepted": "no",
                                              "customer_comment": "不接受"}, complaint, via="api")
    case = case_row(flow, complaint)
    assert (case.resolved_at, case.clock_state) == (None, "on_track")
    at(flow, shanghai(2, 15))
    flow.complete("quality", "summary", {"measures_summary": "补充措施"}, complaint, via="api")
    flow.complete("marketing", "close_case", CLOSE_ACCEPTED, complaint, via="api")
    case = case_row(flow, complaint)
    assert (case.resolved_at, case.resolution_met, case.clock_state) == (shanghai(2, 15), True, "met")


def test_the_scheduler_moves_the_clocks(prod_app):
    assert build_scheduler(prod_app).get_job("customer_clock") is not None


def test_a_day_off_entered_later_moves_the_running_clocks(flow):
    at(flow, MONDAY_0900)
    case_id = flow.open_case(**intake())
    try:
        with flow.database.transaction() as session:
            calendar_admin.set_override(session, date(2026, 3, 3), False, "停电",
                                        runtime=flow.app.extensions["runtime"])
        case = case_row(flow, case_id)
        # Tuesday is off: the first answer is due on Wednesday 09:00, the resolution on Friday 09:00
        assert (case.first_answer_due_at, case.resolution_due_at) == (shanghai(4, 9), shanghai(6, 9))
        assert (case.clock_state, case.clock_state_until) == ("on_track", shanghai(2, 16))
    finally:
        set_default_calendar(None)


def test_feedback_found_urgent_when_verified_was_answered_in_time_and_is_now_urgent(flow):
    """A web submission has no urgency until Marketing assesses it: the verification that finds it
    urgent is measured against the limit known until then; what follows is urgent."""
    at(flow, MONDAY_0900)
    with flow.database.transaction() as session:
        case_id = open_case(session, flow.app.extensions["runtime"], intake_from_public(intake()), CUSTOMER).id
    assert case_row(flow, case_id).urgency is None
    assert case_row(flow, case_id).first_answer_due_at == shanghai(3, 9)
    at(flow, shanghai(2, 13))
    flow.complete("marketing", "verify", verify_ok(new_urgency="urgent", reclassify_reason="客户停线"), case_id)
    case = case_row(flow, case_id)
    assert case.urgency == "urgent"
    assert (case.first_answer_due_at, case.first_answer_met) == (shanghai(3, 9), True)
    assert due(flow, case_id, "preliminary") == shanghai(2, 15)  # urgent from now on: 2 working hours

