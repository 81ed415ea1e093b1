"""The production diagrams (bpmn/) and forms (forms/): they deploy cleanly and the engine can
drive the whole complaint procedure and the weekly assessment end to end.

Every task is completed with data validated by its form (the API path), so the forms and the
gateway conditions are checked together.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.exclusive_gateway import ExclusiveGateway
from SpiffWorkflow.bpmn.specs.mixins.script_task import ScriptTask as ScriptTaskMixin
from SpiffWorkflow.bpmn.specs.mixins.user_task import UserTask as UserTaskMixin
from sqlalchemy import select

from app.clock import clock, local_now
from app.data.db import Database
from app.data.migrate import upgrade
from app.data.models import Department, HumanTask, InstanceStatus, ProcessInstance, TaskState
from app.engine.calendar import depends_on_working_calendar
from app.engine.context import Actor
from app.engine.definitions.deploy import DeployResult, deploy
from app.engine.definitions.lookup import load_spec, task_properties
from app.engine.helpers import helpers
from app.engine.parser import build_specs, iter_task_specs, parse_sources
from app.engine.runtime import WorkflowRuntime
from app.engine.sandbox import SandboxEnvironment, check_source
from app.formkit.build import StaticChoices, validate_data
from app.formkit.definition import load_forms
from app.services.assessment_math import DIAGRAM_HELPERS
from app.services.weekly import week_charges, week_rows
from tests.payloads import EIGHT_D, analysis, verify_ok

ROOT = Path(__file__).resolve().parents[1]
BPMN_DIR = ROOT / "bpmn"
FORMS_DIR = ROOT / "forms"
DEPARTMENTS = (
    "marketing", "quality", "technical", "production", "purchasing", "warehouse", "finance", "management",
)
PROCESSES = {"feedback_case", "stock_count", "eight_d", "weekly_assessment", "corrective_action"}
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # a Monday, 09:00 in Shanghai
ACTOR = Actor(None, "test")
NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
}


def bpmn_sources() -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(BPMN_DIR.glob("*.bpmn"))}


FORMS = load_forms(FORMS_DIR)
CALLED = ("stock_count.bpmn", "eight_d.bpmn")  # deployed before the processes that call them


def deploy_all(session) -> DeployResult:
    """Deploy bpmn/*.bpmn: the called processes first, then the rest, so that feedback_case
    binds the deployed versions of stock_count and eight_d (see test_single_upload_binds_...)."""
    sources = bpmn_sources()
    first = deploy(session, {k: v for k, v in sources.items() if k in CALLED}, FORMS,
                   known_departments=set(DEPARTMENTS))
    second = deploy(session, {k: v for k, v in sources.items() if k not in CALLED}, FORMS,
                    known_departments=set(DEPARTMENTS))
    return DeployResult(first.definitions + second.definitions, first.created + second.created,
                        {**first.forms, **second.forms})


CHOICES = StaticChoices(departments=[(code, code) for code in DEPARTMENTS])


def form_data(form_key: str, **values: Any) -> dict[str, Any]:
    """``values`` validated by the form exactly like an API submission; all fields come back."""
    result = validate_data(FORMS[form_key], values, "en", CHOICES)
    assert result.ok, (form_key, result.errors)
    return result.data


# --------------------------------------------------------------------------- fixtures


class Engine:
    """A migrated SQLite database with the departments and the diagrams deployed."""

    def __init__(self, url: str) -> None:
        self.db = Database(url)
        self.runtime = WorkflowRuntime(extra_helpers=DIAGRAM_HELPERS)
        with self.db.transaction() as session:
            for code in DEPARTMENTS:
                session.add(Department(code=code, name_zh=code, name_en=code))
            session.flush()
            self.deployed = deploy_all(session)
            self.dept_codes = {d.id: d.code for d in session.scalars(select(Department))}

    # ---- driving
    def start(self, key: str, data: dict[str, Any]) -> int:
        with self.db.transaction() as session:
            return self.runtime.start(session, key, data, ACTOR).id

    def open_tasks(self, iid: int) -> list[HumanTask]:
        with self.db.transaction() as session:
            return list(session.scalars(
                select(HumanTask).where(HumanTask.instance_id == iid, HumanTask.state == TaskState.OPEN)
                .order_by(HumanTask.created_at, HumanTask.element_id)
            ))

    def open_elements(self, iid: int) -> list[tuple[str, str | None]]:
        return sorted((t.element_id, self.dept_codes.get(t.department_id)) for t in self.open_tasks(iid))

    def task(self, iid: int, element: str, dept: str | None = None) -> HumanTask:
        found = [t for t in self.open_tasks(iid) if t.element_id == element
                 and (dept is None or self.dept_codes.get(t.department_id) == dept)]
        assert len(found) == 1, (element, dept, self.open_elements(iid), self.instance(iid).incident_message)
        return found[0]

    def complete(self, iid: int, element: str, form_key: str | None = None, dept: str | None = None,
                 **values: Any) -> HumanTask:
        row = self.task(iid, element, dept)
        assert form_key is None or row.form_key == form_key
        data = form_data(row.form_key, **values)
        with self.db.transaction() as session:
            self.runtime.complete_task(session, row.id, data, ACTOR)
        instance = self.instance(iid)
        assert instance.status != InstanceStatus.INCIDENT, instance.incident_message
        return row

    def task_data(self, row: HumanTask) -> dict[str, Any]:
        with self.db.transaction() as session:
            return self.runtime.task_data(session, row.id)

    def data(self, iid: int) -> dict[str, Any]:
        with self.db.transaction() as session:
            return self.runtime.instance_data(session, iid)

    def instance(self, iid: int) -> ProcessInstance:
        with self.db.transaction() as session:
            return session.get(ProcessInstance, iid)

    def advance(self, iid: int, delta: timedelta) -> bool:
        clock.advance(delta)
        with self.db.transaction() as session:
            moved = self.runtime.fire_timers(session, iid)
        instance = self.instance(iid)
        assert instance.status != InstanceStatus.INCIDENT, instance.incident_message
        return moved

    def instances(self, key: str) -> list[ProcessInstance]:
        with self.db.transaction() as session:
            return list(session.scalars(
                select(ProcessInstance).where(ProcessInstance.process_key == key).order_by(ProcessInstance.id)
            ))

    def history(self, iid: int, element: str) -> list[HumanTask]:
        with self.db.transaction() as session:
            return list(session.scalars(
                select(HumanTask).where(HumanTask.instance_id == iid, HumanTask.element_id == element)
                .order_by(HumanTask.created_at)
            ))


@pytest.fixture
def engine(tmp_path):
    url = f"sqlite:///{tmp_path / 'processes.db'}"
    upgrade(url)
    clock.set(T0)
    eng = Engine(url)
    yield eng
    clock.reset()
    eng.db.dispose()


# --------------------------------------------------------------------------- form payloads


def intake(**overrides: Any) -> dict[str, Any]:
    values = {
        "customer_name": "华东机电有限公司", "customer_contact": "王工 13800000000",
        "customer_email": "wang@example.com", "product_model": "XK-200", "ship_date": "2026-02-20",
        "description": "设备运行10分钟后报警停机", "defective_qty": 5, "serial_numbers": "SN001\nSN002",
        "demands": ["replenish", "onsite"], "channel": "hotline", "feedback_type": "complaint",
        "category": "quality", "urgency": "important",
    }
    values.update(overrides)
    return {**form_data("case_intake", **values), "case_id": 1, "case_number": "FB-2026-00001"}




def run_8d(eng: Engine, iid: int, dept: str) -> None:
    eng.complete(iid, "report", "eight_d_report", dept=dept, **EIGHT_D)
    row = eng.task(iid, "verify_8d")
    assert eng.task_data(row)["dept"] == dept
    eng.complete(iid, "verify_8d", "verify_8d", decision="accept", reason="措施有效")


def close_and_visit(eng: Engine, iid: int) -> None:
    eng.complete(iid, "summary", "measures_summary", measures_summary="各部门措施见8D")
    eng.complete(iid, "close_case", "close_case", reply_to_customer="改善措施如下……", reply_channel="email",
                 customer_accepted="yes")
    assert eng.open_elements(iid) == [] or all(e != "return_visit" for e, _ in eng.open_elements(iid))
    assert eng.advance(iid, timedelta(days=3, minutes=1))
    eng.complete(iid, "return_visit", "return_visit", visit_on="2026-03-09", customer_satisfied="yes")


def review(eng: Engine, iid: int, issue: str = "no", **values: Any) -> HumanTask:
    """Technical completes its review of the verified feedback."""
    return eng.complete(iid, "technical_review", "technical_review", review_technical_issue=issue, **values)


def to_preliminary(eng: Engine, iid: int, **verify: Any) -> None:
    """Marketing verifies the complaint; Technical's review (started by the first complete
    verification) is done at once, so the tests below see only the rest of the procedure."""
    eng.complete(iid, "verify", "verify_feedback", **verify_ok(**verify))
    if ("technical_review", "technical") in eng.open_elements(iid):
        review(eng, iid)


# --------------------------------------------------------------------------- deployment


def test_definitions_deploy_without_problems(engine):
    created = {d.key: d for d in engine.deployed.created}
    assert set(created) == PROCESSES
    assert created["feedback_case"].dependencies == {
        "stock_count": created["stock_count"].id, "eight_d": created["eight_d"].id,
    }
    assert set(engine.deployed.forms) == set(FORMS)
    for definition in created.values():
        assert definition.forms, definition.key
        assert set(definition.forms) <= set(FORMS)
    with engine.db.transaction() as session:  # deploying the same content again creates nothing
        again = deploy_all(session)
    assert again.created == []


def test_single_upload_binds_called_processes(engine, tmp_path):
    url = f"sqlite:///{tmp_path / 'single.db'}"
    upgrade(url)
    db = Database(url)
    try:
        with db.transaction() as session:
            for code in DEPARTMENTS:
                session.add(Department(code=code, name_zh=code, name_en=code))
            session.flush()
            deploy(session, bpmn_sources(), FORMS, known_departments=set(DEPARTMENTS))
            WorkflowRuntime().start(session, "feedback_case", intake(), ACTOR)
    finally:
        db.dispose()


def test_definitions_follow_our_conventions():
    """The user-task and sandbox rules of app.engine.definitions.rules.check_rules, applied with the
    library's mixin classes (so they hold whichever task classes the parser produces)."""
    parser = parse_sources(bpmn_sources())
    assert set(parser.get_process_ids()) == PROCESSES
    seen_forms: set[str] = set()
    for pid in PROCESSES:
        spec, subprocess_specs = build_specs(parser, pid)
        for ts in iter_task_specs(spec, subprocess_specs):
            props = task_properties(ts)
            where = (pid, getattr(ts, "bpmn_id", ts.name))
            if props.get("startForm"):  # a start by hand's form (forms checks it the same way)
                assert props["startForm"] in FORMS, where
                seen_forms.add(props["startForm"])
            if isinstance(ts, UserTaskMixin):
                assert props.get("formKey") in FORMS, where
                assert props.get("nameEn"), where
                seen_forms.add(props["formKey"])
                department = props.get("department", "")
                if department.startswith("="):
                    assert check_source(department[1:], "eval") is None, where
                else:
                    assert (department or ts.lane) in DEPARTMENTS, where
                for prop in ("dueAt", "assignee"):
                    value = props.get(prop, "")
                    if value.startswith("="):
                        assert check_source(value[1:], "eval") is None, (where, prop)
                    elif value:
                        TimerEventDefinition.parse_iso_duration(value)
            if isinstance(ts, ScriptTaskMixin):
                assert check_source(ts.script, "exec") is None, where
            for script in (getattr(ts, "prescript", None), getattr(ts, "postscript", None)):
                if script:
                    assert check_source(script, "exec") is None, where
            if isinstance(ts, ExclusiveGateway):
                for condition, _target in ts.cond_task_specs:
                    if condition is not None:
                        assert check_source(condition.args[0], "eval") is None, where
            event = getattr(ts, "event_definition", None)
            if isinstance(event, TimerEventDefinition):
                assert check_source(event.expression, "eval") is None, where
                # a quoted ISO duration or a deadline computed with the working-time calendar
                assert event.expression.startswith('"P') or depends_on_working_calendar(event.expression), where
    assert seen_forms == set(FORMS) - {"case_intake"}


def test_deadlines_are_on_working_time_except_the_8d_report():
    """Issue 10.6: no deadline in clock hours raises reminders or overdue flags at night or at the
    weekend, except the 8D report's 48 hours, which the procedure sets (48小时); a boundary timer
    that flags a task overdue uses the same kind of deadline as the task. Every dueAt and every
    timer of every diagram calls the working-time calendar where it is used (so a calendar change
    moves it, app/engine/deadlines.py), never clock hours or a deadline a script stored in data."""
    parser = parse_sources(bpmn_sources())
    clock_time: set[tuple[str, str, str]] = set()
    for pid in parser.get_process_ids():
        spec, subprocess_specs = build_specs(parser, pid)
        for ts in iter_task_specs(spec, subprocess_specs):
            where = (ts._wf_spec.name, getattr(ts, "bpmn_id", ts.name))
            due = task_properties(ts).get("dueAt")
            if due and not (due.startswith("=") and depends_on_working_calendar(due[1:])
                            and "add_hours" not in due and "add_days" not in due):
                clock_time.add((*where, due))
            event = getattr(ts, "event_definition", None)
            if isinstance(event, TimerEventDefinition) and not depends_on_working_calendar(event.expression):
                clock_time.add((*where, event.expression))
    assert clock_time == {
        ("eight_d", "report", "PT48H"), ("eight_d", "report_overdue", '"PT48H"'),
        # not a deadline: the customer's 3 days to answer the survey before the return visit opens
        ("feedback_case", "survey_wait", '"P3D"'),
    }


def test_the_weekly_assessments_steps_are_due_on_working_time(engine):
    """Issue 10.6 follow-up: the review, Logistics' entry and both signatures are due one working
    day after they open (they were 24 clock hours): opened on a Friday afternoon, due on Monday."""
    clock.set(datetime(2026, 3, 6, 8, 0, tzinfo=UTC))  # Friday 16:00 in Shanghai
    monday_1600 = datetime(2026, 3, 9, 8, 0, tzinfo=UTC)
    rows = [{"case_no": "FB-1", "department": "production", "late_measure_days": 1, "late_execution_days": 0}]
    iid = engine.start("weekly_assessment", {"week_start": "2026-02-23", "week_end": "2026-03-01", "rows": rows})
    assert engine.task(iid, "review").due_at == monday_1600
    engine.complete(iid, "review", "assessment_review", rows=rows)
    assert engine.task(iid, "logistics").due_at == monday_1600
    engine.complete(iid, "logistics", "assessment_logistics",
                    logistics_rows=[{"case_no": "FB-1", "freight": "0", "loss": "0"}])
    engine.complete(iid, "breakdown", "assessment_breakdown", operators=[
        {"operator": "张三", "case_no": "FB-1", "amount": "10", "reason": "责任人"}])
    assert engine.task(iid, "sign_quality").due_at == monday_1600
    engine.complete(iid, "sign_quality", "sign_off", decision="approve")
    assert engine.task(iid, "sign_gm").due_at == monday_1600


@pytest.mark.parametrize("name", sorted(p.name for p in BPMN_DIR.glob("*.bpmn")))
def test_every_element_has_diagram_interchange(name):
    tree = etree.fromstring((BPMN_DIR / name).read_bytes())
    process = tree.find("bpmn:process", NS)
    assert process.get("isExecutable") == "true"
    shapes = {s.get("bpmnElement") for s in tree.iterfind(".//bpmndi:BPMNShape", NS)}
    edges = {e.get("bpmnElement") for e in tree.iterfind(".//bpmndi:BPMNEdge", NS)}
    lanes = process.findall("bpmn:laneSet/bpmn:lane", NS)
    assert lanes and all(lane.get("id") in shapes for lane in lanes)
    assert {lane.get("name") for lane in lanes} <= {*DEPARTMENTS, "responsible"}
    in_lane = {ref.text for lane in lanes for ref in lane.iterfind("bpmn:flowNodeRef", NS)}
    for element in process:
        if not isinstance(element.tag, str):  # XML comments
            continue
        tag = etree.QName(element).localname
        if tag in ("laneSet", "extensionElements", "documentation"):  # not flow elements
            continue
        element_id = element.get("id")
        if tag == "sequenceFlow":
            assert element_id in edges, element_id
        else:
            assert element_id in shapes, element_id
            assert element_id in in_lane, element_id
            if tag == "userTask":
                assert element.get("name"), element_id


# --------------------------------------------------------------------------- complaint paths


def test_complaint_with_two_departments_to_closure(engine):
    iid = engine.start("feedback_case", intake(category="technical"))
    verify = engine.task(iid, "verify")
    # half a working day: Monday 09:00 + 4 working hours = 14:00 Shanghai (12:00-13:00 is lunch)
    assert verify.due_at == T0 + timedelta(hours=5)
    assert verify.title == "核实反馈信息" and verify.title_en == "Verify the feedback"
    assert engine.dept_codes[verify.department_id] == "marketing"
    assert verify.context["stage"] == "核实"
    engine.complete(iid, "verify", "verify_feedback", **verify_ok(onsite_needed=True))
    # Technical reviews the verified feedback beside Marketing's on-site visit and Quality's analysis
    assert engine.open_elements(iid) == [("onsite", "marketing"), ("technical_review", "technical")]
    assert engine.task(iid, "technical_review").due_at == T0 + timedelta(hours=5)  # half a working day
    engine.complete(iid, "onsite", "onsite_visit", visit_date="2026-03-02", findings="现场确认报警")
    assert engine.open_elements(iid) == [("preliminary", "quality"), ("technical_review", "technical")]
    engine.complete(iid, "preliminary", "preliminary_analysis",
                    **analysis(responsible_departments=["production", "purchasing"], approve_shipment=True,
                               request_technical=True))
    distributed = clock.now()
    assert engine.open_elements(iid) == [
        ("report", "production"), ("report", "purchasing"), ("shipment", "warehouse"),
        ("technical_reply", "technical"), ("technical_review", "technical"),
    ]
    report = engine.task(iid, "report", dept="production")
    assert report.due_at == distributed + timedelta(hours=48)
    assert report.context["stage"] == "8D"
    assert engine.task(iid, "shipment").due_at == distributed + timedelta(hours=24)  # 1 working day
    review(engine, iid, "yes", review_analysis="固件V2.1有已知缺陷", review_customer_reply="请升级固件")

    # purchasing in time; production 50 hours after distribution: the boundary timer records it
    run_8d(engine, iid, "purchasing")
    assert engine.advance(iid, timedelta(hours=50))
    assert engine.task(iid, "report", dept="production")  # non-interrupting: the report stays open
    run_8d(engine, iid, "production")
    engine.complete(iid, "technical_reply", "technical_reply", technical_analysis="固件版本过旧",
                    technical_customer_reply="请升级固件至V2.3")
    summary = engine.task(iid, "summary")
    results = {r["department"]: r for r in engine.task_data(summary)["eight_d_results"]}
    assert set(results) == {"production", "purchasing"}
    assert results["production"]["late_measure_days"] == 1 and results["production"]["overdue"] is True
    assert results["purchasing"]["late_measure_days"] == 0 and results["purchasing"]["overdue"] is False
    assert results["production"]["report"]["d2_problem"]["what"] == "控制板虚焊"
    assert results["production"]["accepted"] is True and results["production"]["rounds"] == 1

    close_and_visit(engine, iid)
    # the shipment is still open: the case waits for it at the join
    assert engine.open_elements(iid) == [("shipment", "warehouse")]
    engine.complete(iid, "shipment", "shipment", items=[{"item": "控制板", "model": "CB-2", "qty": 2}],
                    carrier="顺丰", tracking_number="SF123", freight_cost="35.50")
    assert engine.instance(iid).status == InstanceStatus.COMPLETED
    data = engine.data(iid)
    assert data["case_status"] == "closed"
    assert data["responsible_departments"] == ["production", "purchasing"]
    assert data["tracking_number"] == "SF123" and data["freight_cost"] == 35.5
    assert data["technical_customer_reply"] == "请升级固件至V2.3"
    assert data["review_customer_reply"] == "请升级固件" and data["review_technical_issue"] == "yes"
    assert data["customer_satisfied"] == "yes" and data["close_rounds"] == 0
    assert data["lateness"] == [
        {"department": "production", "late_measure_days": 1, "rounds": 1, "overdue": True},
        {"department": "purchasing", "late_measure_days": 0, "rounds": 1, "overdue": False},
    ]
    # each accepted 8D started the tracking of its corrective actions; the case did not wait for them
    tracking = engine.instances("corrective_action")
    assert len(tracking) == 2 and all(i.status == InstanceStatus.RUNNING for i in tracking)


@pytest.mark.parametrize(("feedback_type", "days"), [("consultation", 1), ("suggestion", 3), ("praise", 3)])
def test_short_path_answers_and_closes(engine, feedback_type, days):
    iid = engine.start("feedback_case", intake(feedback_type=feedback_type))
    task = engine.task(iid, "answer_close")
    assert engine.open_elements(iid) == [("answer_close", "marketing")]
    assert task.due_at == T0 + timedelta(days=days)
    engine.complete(iid, "answer_close", "answer_close", answer="型号XK-200支持220V", reply_channel="phone")
    assert engine.instance(iid).status == InstanceStatus.COMPLETED
    assert engine.data(iid)["case_status"] == "closed"


STOCK_COUNTS = {
    # outcome: (book, card, physical) entered by all three parties; the customer reported 5
    "quality_problem": (100, 100, 105),
    "customer_info_inaccurate": (100, 100, 100),
    "warehouse_problem": (100, 98, 97),
}


@pytest.mark.parametrize("outcome", sorted(STOCK_COUNTS))
def test_stock_count_outcomes(engine, outcome):
    book, card, physical = STOCK_COUNTS[outcome]
    iid = engine.start("feedback_case", intake(defective_qty=5))
    to_preliminary(engine, iid)
    engine.complete(iid, "preliminary", "preliminary_analysis",
                    **analysis(responsible_departments=["production"], needs_stock_count=True))
    assert engine.open_elements(iid) == [
        ("count_finance", "finance"), ("count_quality", "quality"), ("count_warehouse", "warehouse"),
    ]
    for element in ("count_finance", "count_quality", "count_warehouse"):
        engine.complete(iid, element, "stock_count_entry", book_qty=book, card_qty=card,
                        physical_qty=physical, count_note=element)
    if outcome == "customer_info_inaccurate":
        assert engine.open_elements(iid) == [("close_case", "marketing")]
        row = engine.task(iid, "close_case")
    else:
        dept = "production" if outcome == "quality_problem" else "warehouse"
        assert engine.open_elements(iid) == [("report", dept)]
        row = engine.task(iid, "report")
    data = engine.task_data(row)
    assert data["stock_count_outcome"] == outcome
    assert data["stock_count_result"]["physical_qty"] == physical
    assert data["count_finance"]["note"] == "count_finance"
    assert "book_qty" not in data

    if outcome == "customer_info_inaccurate":
        engine.complete(iid, "close_case", "close_case", reply_to_customer="盘点账物相符", reply_channel="email",
                        customer_accepted="yes")
        engine.advance(iid, timedelta(days=3, minutes=1))
        engine.complete(iid, "return_visit", "return_visit", visit_on="2026-03-09", customer_satisfied="yes")
        expected: list[str] = []
    else:
        run_8d(engine, iid, dept)
        close_and_visit(engine, iid)
        expected = [dept]
    assert engine.instance(iid).status == InstanceStatus.COMPLETED
    final = engine.data(iid)
    assert final["case_status"] == "closed"
    assert final["stock_count_outcome"] == outcome
    assert final["responsible_departments"] == expected


def test_stock_count_rule_uses_the_median_physical_count(engine):
    iid = engine.start("feedback_case", intake(defective_qty=3))
    to_preliminary(engine, iid)
    engine.complete(iid, "preliminary", "preliminary_analysis",
                    **analysis(needs_stock_count=True, customer_reported_qty=4))
    engine.complete(iid, "count_finance", book_qty=50, card_qty=50, physical_qty=54)
    engine.complete(iid, "count_quality", book_qty=50, card_qty=50, physical_qty=54)
    engine.complete(iid, "count_warehouse", book_qty=50, card_qty=51, physical_qty=60)
    data = engine.task_data(engine.task(iid, "report"))
    assert data["stock_count_result"] == {
        **data["stock_count_result"], "book_qty": 50, "card_qty": 51, "physical_qty": 54, "deviation": 4,
        "customer_reported_qty": 4, "outcome": "quality_problem",
    }


def test_8d_rejected_once_then_accepted(engine):
    iid = engine.start("feedback_case", intake())
    to_preliminary(engine, iid)
    engine.complete(iid, "preliminary", "preliminary_analysis", **analysis())
    first = engine.complete(iid, "report", "eight_d_report", dept="production", **EIGHT_D)
    engine.complete(iid, "verify_8d", "verify_8d", decision="reject", reason="根本原因未验证")
    second = engine.task(iid, "report", dept="production")
    assert second.id != first.id
    assert second.due_at == clock.now() + timedelta(hours=48)
    assert engine.task_data(second)["eight_d_verifications"][0]["reason"] == "根本原因未验证"
    clock.advance(timedelta(hours=10))
    engine.complete(iid, "report", "eight_d_report", dept="production", **EIGHT_D)
    engine.complete(iid, "verify_8d", "verify_8d", decision="accept", reason="已验证")
    reports = engine.history(iid, "report")
    assert [r.state for r in reports] == [TaskState.COMPLETED, TaskState.COMPLETED]
    assert len(engine.history(iid, "verify_8d")) == 2
    result = engine.task_data(engine.task(iid, "summary"))["eight_d_results"][0]
    assert result["rounds"] == 2 and result["accepted"] is True
    assert [v["decision"] for v in result["verifications"]] == ["reject", "accept"]
    assert [s["round"] for s in result["submissions"]] == [1, 2]
    close_and_visit(engine, iid)
    assert engine.instance(iid).status == InstanceStatus.COMPLETED
    assert engine.data(iid)["lateness"][0]["rounds"] == 2


def test_8d_rework_is_bounded(engine):
    iid = engine.start("feedback_case", intake())
    to_preliminary(engine, iid)
    engine.complete(iid, "preliminary", "preliminary_analysis", **analysis())
    for _ in range(4):
        engine.complete(iid, "report", "eight_d_report", **EIGHT_D)
        engine.complete(iid, "verify_8d", "verify_8d", decision="reject", reason="不充分")
    result = engine.task_data(engine.task(iid, "summary"))["eight_d_results"][0]
    assert result["rounds"] == 4 and result["accepted"] is False


def test_customer_not_accepting_reopens_and_redoes_the_8d(engine):
    iid = engine.start("feedback_case", intake())
    to_preliminary(engine, iid)
    engine.complete(iid, "preliminary", "preliminary_analysis", **analysis())
    run_8d(engine, iid, "production")
    engine.complete(iid, "summary", "measures_summary", measures_summary="措施A")
    engine.complete(iid, "close_case", "close_case", reply_to_customer="措施A", reply_channel="email",
                    customer_accepted="no", customer_comment="需要采购部也整改")
    engine.complete(iid, "summary", "measures_summary", measures_summary="追加采购部整改", redo_8d=True,
                    redo_departments=["purchasing"])
    assert engine.open_elements(iid) == [("report", "purchasing")]
    run_8d(engine, iid, "purchasing")
    close_and_visit(engine, iid)
    assert engine.instance(iid).status == InstanceStatus.COMPLETED
    data = engine.data(iid)
    assert data["close_rounds"] == 1 and data["eight_d_rounds"] == 2
    assert data["responsible_departments"] == ["production", "purchasing"]


def test_urgent_shipment_first_departments_named_later(engine):
    iid = engine.start("feedback_case", intake(urgency="urgent"))
    to_preliminary(engine, iid)
    engine.complete(iid, "preliminary", "preliminary_analysis",
                    **analysis(responsible_departments=[], approve_shipment=True))
    assert engine.open_elements(iid) == [("assign_departments", "quality"), ("shipment", "warehouse")]
    # 4 working hours from Monday 09:00: 12:00-13:00 is lunch
    assert engine.task(iid, "shipment").due_at == clock.now() + timedelta(hours=5)
    engine.complete(iid, "shipment", "shipment", items=[{"item": "控制板", "qty": 1}], carrier="顺丰",
                    tracking_number="SF9")
    engine.complete(iid, "assign_departments", "assign_departments", assigned_departments=["purchasing"])
    assert engine.open_elements(iid) == [("report", "purchasing")]
    run_8d(engine, iid, "purchasing")
    close_and_visit(engine, iid)
    data = engine.data(iid)
    assert engine.instance(iid).status == InstanceStatus.COMPLETED
    assert data["responsible_departments"] == ["purchasing"] and data["tracking_number"] == "SF9"


def test_more_evidence_goes_back_to_verification(engine):
    iid = engine.start("feedback_case", intake())
    to_preliminary(engine, iid)
    for _ in range(3):
        engine.complete(iid, "preliminary", "preliminary_analysis",
                        **analysis(need_more_evidence=True, evidence_request="请提供照片"))
        to_preliminary(engine, iid)
    # the fourth request is not honoured any more: the case moves on
    engine.complete(iid, "preliminary", "preliminary_analysis", **analysis(need_more_evidence=True))
    assert engine.open_elements(iid) == [("report", "production")]


def test_information_request_and_customer_reply(engine):
    iid = engine.start("feedback_case", intake())
    engine.complete(iid, "verify", "verify_feedback", **verify_ok(info_complete="no", missing_info="缺序列号"))
    engine.complete(iid, "info_request", "info_request", question="请提供序列号", request_channel="email")
    reply = engine.task(iid, "customer_reply")
    assert engine.advance(iid, timedelta(days=3, minutes=1))  # one reminder
    assert engine.task(iid, "customer_reply").id != reply.id
    assert [t.state for t in engine.history(iid, "customer_reply")] == [TaskState.CANCELLED, TaskState.OPEN]
    engine.complete(iid, "customer_reply", "customer_reply", reply_text="SN001, SN002")
    assert engine.open_elements(iid) == [("verify", "marketing")]
    data = engine.task_data(engine.task(iid, "verify"))
    assert data["reply_text"] == "SN001, SN002" and data["info_requests"] == 1 and data["reminders_sent"] == 1


def test_unanswered_reminders_end_as_unresolvable(engine):
    iid = engine.start("feedback_case", intake())
    engine.complete(iid, "verify", "verify_feedback", **verify_ok(info_complete="no"))
    engine.complete(iid, "info_request", "info_request", question="请提供照片", request_channel="phone")
    # each reminder waits 3 working days; 5 calendar days always cover them, weekends included
    for reminder in range(3):
        due = engine.instance(iid).next_due_at
        assert not engine.advance(iid, due - clock.now() - timedelta(minutes=1))  # not before its time
        assert engine.advance(iid, timedelta(minutes=2))
        assert engine.task_data(engine.task(iid, "customer_reply"))["reminders_sent"] == reminder + 1
    assert engine.instance(iid).next_due_at is not None
    assert engine.advance(iid, timedelta(days=5, minutes=1))
    instance = engine.instance(iid)
    assert instance.status == InstanceStatus.COMPLETED
    assert engine.data(iid)["case_status"] == "unresolvable"
    assert engine.open_tasks(iid) == []


def test_information_requests_are_bounded(engine):
    iid = engine.start("feedback_case", intake())
    for _ in range(5):
        engine.complete(iid, "verify", "verify_feedback", **verify_ok(info_complete="no"))
        engine.complete(iid, "info_request", "info_request", question="?", request_channel="phone")
        engine.complete(iid, "customer_reply", "customer_reply", reply_text="...")
    engine.complete(iid, "verify", "verify_feedback", **verify_ok(info_complete="no"))
    assert engine.instance(iid).status == InstanceStatus.COMPLETED
    assert engine.data(iid)["case_status"] == "unresolvable"


# --------------------------------------------------------------------------- technical review (issue 10.8)


def test_technical_review_runs_beside_the_analysis_and_the_case_waits_for_it(engine):
    iid = engine.start("feedback_case", intake(category="quality"))
    engine.complete(iid, "verify", "verify_feedback", **verify_ok())
    # whatever the category: Technical gets the verified feedback together with Quality
    assert engine.open_elements(iid) == [("preliminary", "quality"), ("technical_review", "technical")]
    review_task = engine.task(iid, "technical_review")
    assert review_task.due_at == T0 + timedelta(hours=5)  # Monday 09:00 + 4 working hours (lunch 12-13)
    assert review_task.title_en == "Technical review" and review_task.context["stage"] == "分析"
    # Quality's analysis does not wait for the review; asking for more evidence starts no second review
    engine.complete(iid, "preliminary", "preliminary_analysis",
                    **analysis(need_more_evidence=True, evidence_request="请提供照片"))
    engine.complete(iid, "verify", "verify_feedback", **verify_ok())
    assert engine.open_elements(iid) == [("preliminary", "quality"), ("technical_review", "technical")]
    assert len(engine.history(iid, "technical_review")) == 1
    # without Quality's request there is no further technical reply
    engine.complete(iid, "preliminary", "preliminary_analysis", **analysis(request_technical=False))
    assert engine.open_elements(iid) == [("report", "production"), ("technical_review", "technical")]
    run_8d(engine, iid, "production")
    close_and_visit(engine, iid)
    # the case is closed only once Technical has answered
    assert engine.open_elements(iid) == [("technical_review", "technical")]
    assert engine.instance(iid).status == InstanceStatus.RUNNING
    invalid = validate_data(FORMS["technical_review"], {"review_technical_issue": "yes"}, "en", CHOICES)
    assert set(invalid.errors) == {"review_analysis", "review_customer_reply"}
    review(engine, iid, "yes", review_analysis="接线端子规格不符", review_customer_reply="请更换端子",
           review_plan="下批次更换供应商")
    assert engine.instance(iid).status == InstanceStatus.COMPLETED
    data = engine.data(iid)
    # the review branch arrived last at the join, yet the case's own data is intact
    assert data["case_status"] == "closed" and data["responsible_departments"] == ["production"]
    assert data["evidence_rounds"] == 1 and data["info_requests"] == 0
    assert data["review_customer_reply"] == "请更换端子"


# --------------------------------------------------------------------------- classification (issue 10.9)


def test_consultation_reclassified_as_complaint_runs_the_full_procedure(engine):
    iid = engine.start("feedback_case", intake(feedback_type="consultation", urgency="general"))
    assert engine.open_elements(iid) == [("answer_close", "marketing")]
    # a correction needs a reason; a complaint needs no answer here
    form = FORMS["answer_close"]
    assert validate_data(form, {"new_feedback_type": "complaint"}, "en", CHOICES).errors == {
        "reclassify_reason": ["This field is required."]}
    assert set(validate_data(form, {}, "en", CHOICES).errors) == {"answer", "reply_channel"}
    engine.complete(iid, "answer_close", "answer_close", new_feedback_type="complaint", new_urgency="urgent",
                    reclassify_reason="客户要求索赔,属投诉")
    assert engine.open_elements(iid) == [("verify", "marketing")]
    verify = engine.task(iid, "verify")
    seen = engine.task_data(verify)
    assert (seen["feedback_type"], seen["urgency"], seen["category"]) == ("complaint", "urgent", "quality")
    assert seen["new_feedback_type"] is None  # the correction is applied, the form starts blank again
    to_preliminary(engine, iid)
    engine.complete(iid, "preliminary", "preliminary_analysis", **analysis(approve_shipment=True))
    assert engine.task(iid, "shipment").due_at == clock.now() + timedelta(hours=5)  # urgent now: 4 working hours
    assert ("report", "production") in engine.open_elements(iid)


def test_complaint_reclassified_at_verification_is_answered_and_the_review_withdrawn(engine):
    iid = engine.start("feedback_case", intake())
    # a correction to a non-complaint needs neither the completeness check nor temporary measures
    assert set(validate_data(FORMS["verify_feedback"], {}, "en", CHOICES).errors) == {
        "info_complete", "temporary_measures"}
    assert validate_data(FORMS["verify_feedback"], {"new_feedback_type": "consultation", "reclassify_reason": "咨询"},
                         "en", CHOICES).errors == {}
    engine.complete(iid, "verify", "verify_feedback", **verify_ok())
    engine.complete(iid, "preliminary", "preliminary_analysis", **analysis(need_more_evidence=True))
    assert engine.open_elements(iid) == [("technical_review", "technical"), ("verify", "marketing")]
    engine.complete(iid, "verify", "verify_feedback", new_feedback_type="consultation", new_category="technical",
                    reclassify_reason="客户只询问接线方法")
    assert engine.open_elements(iid) == [("answer_close", "marketing"), ("technical_review", "technical")]
    answer = engine.task(iid, "answer_close")
    assert answer.due_at == clock.now() + timedelta(days=1)  # a consultation: 1 working day
    engine.complete(iid, "answer_close", "answer_close", answer="接线方法见说明书第5页", reply_channel="phone")
    # the terminate end withdraws the open review; the case ends answered
    assert engine.instance(iid).status == InstanceStatus.COMPLETED
    assert [t.state for t in engine.history(iid, "technical_review")] == [TaskState.CANCELLED]
    data = engine.data(iid)
    assert (data["case_status"], data["feedback_type"], data["category"]) == ("closed", "consultation", "technical")


# --------------------------------------------------------------------------- weekly assessment


COSTS = {  # case: (freight, loss) -> hand-computed base, head 20 %, responsible person the rest
    "FB-1": ("0", "0", "0.00", "0.00", "0.00"),
    "FB-2": ("60", "40", "100.00", "20.00", "80.00"),
    "FB-3": ("101", "0", "100.50", "20.10", "80.40"),
    "FB-4": ("300", "200", "300.00", "60.00", "240.00"),
    "FB-5": ("500", "1", "300.40", "60.08", "240.32"),
    "FB-6": ("2000", "8000", "4100.00", "820.00", "3280.00"),
}


def compute_script() -> str:
    parser = parse_sources(bpmn_sources())
    spec, _ = build_specs(parser, "weekly_assessment")
    return spec.task_specs["compute"].script


def run_compute(rows: list[dict], logistics_rows: list[dict], basis: str | None) -> dict[str, Any]:
    context = {"rows": rows, "logistics_rows": logistics_rows, "logistics_basis": basis}
    SandboxEnvironment({**helpers(), **DIAGRAM_HELPERS}).execute(compute_script(), context)
    return context


@pytest.mark.parametrize(("basis", "base", "head", "person"), [
    (None, "250.00", "50.00", "200.00"),  # the default: tiers on the whole 1,000 (→ 500), then halved
    ("total_cost", "250.00", "50.00", "200.00"),
    ("per_share", "300.00", "60.00", "240.00"),  # halved first: 500 each → 100 + 400 × 50 % = 300
])
def test_assessment_step_shares_a_case_on_the_chosen_basis(basis, base, head, person):
    rows = [{"case_no": "C1", "department": "production", "late_measure_days": 1, "late_execution_days": 0},
            {"case_no": "C1", "department": "purchasing", "late_measure_days": 0, "late_execution_days": 2}]
    context = run_compute(rows, [{"case_no": "C1", "freight": 800.0, "loss": 200.0}], basis)
    items = {i["department"]: i for i in context["assessment_items"]}
    for dept, penalties in (("production", "10.00"), ("purchasing", "40.00")):
        item = items[dept]
        assert (item["logistics_cost"], item["logistics_base"], item["head_share"], item["responsible_share"]) == (
            "500.00", base, head, person)
        assert item["logistics_basis"] == (basis or "total_cost") and item["sharing"] == 2
        assert item["head_total"] == str(Decimal(penalties) + Decimal(head))
    assert context["assessment_departments"] == ["production", "purchasing"]
    assert "figures" not in context  # the helper's result is unpacked, not kept twice


def test_weekly_assessment(engine):
    rows = [
        {"case_no": no, "department": "production", "late_measure_days": 0, "late_execution_days": 0}
        for no in COSTS
    ] + [
        {"case_no": "FB-7", "department": "purchasing", "late_measure_days": 2, "late_execution_days": 1},
        {"case_no": "FB-7", "department": "technical", "late_measure_days": 0, "late_execution_days": 3},
        {"case_no": "FB-8", "department": "warehouse", "late_measure_days": 0, "late_execution_days": 0},
    ]
    iid = engine.start("weekly_assessment", {"week_start": "2026-03-02", "week_end": "2026-03-08", "rows": rows})
    review = engine.task(iid, "review")
    assert engine.dept_codes[review.department_id] == "quality"
    prefilled = engine.task_data(review)["logistics_rows"]
    assert [r["case_no"] for r in prefilled] == [*COSTS, "FB-7", "FB-8"]

    def review_and_logistics(edit: bool = False) -> None:
        reviewed = [dict(r) for r in rows]
        if edit:
            reviewed[-3]["late_measure_days"] = 3
            reviewed[-3]["edit_reason"] = "按质量部记录更正"
        engine.complete(iid, "review", "assessment_review", rows=reviewed)
        logistics = [{"case_no": no, "freight": f, "loss": loss} for no, (f, loss, *_rest) in COSTS.items()]
        logistics += [{"case_no": "FB-7", "freight": "200", "loss": "0"}]
        engine.complete(iid, "logistics", "assessment_logistics", logistics_rows=logistics)

    review_and_logistics()
    tasks = engine.open_elements(iid)
    assert tasks == [("breakdown", "production"), ("breakdown", "purchasing"), ("breakdown", "technical")]
    row = engine.task(iid, "breakdown", dept="production")
    assert row.due_at == clock.now() + timedelta(days=3)
    data = engine.task_data(row)
    items = {(i["case_no"], i["department"]): i for i in data["assessment_items"]}
    for no, (_f, _l, base, head, person) in COSTS.items():
        item = items[(no, "production")]
        assert (item["logistics_base"], item["head_share"], item["responsible_share"]) == (base, head, person)
        assert item["head_total"] == head and item["logistics_basis"] == "total_cost"
    # FB-7: 200 yuan shared by two departments, the default basis: tiers on 200 → 150, 75 each
    purchasing = items[("FB-7", "purchasing")]
    assert (purchasing["logistics_cost"], purchasing["logistics_base"], purchasing["head_share"]) == (
        "100.00", "75.00", "15.00")
    assert purchasing["measure_penalty"] == "20.00" and purchasing["execution_penalty"] == "20.00"
    assert purchasing["head_total"] == "55.00"
    technical = items[("FB-7", "technical")]
    assert technical["execution_penalty"] == "60.00" and technical["head_total"] == "75.00"
    assert items[("FB-8", "warehouse")]["head_total"] == "0.00"
    totals = data["assessment_totals"]
    assert totals["production"]["head_share"] == "980.18"  # 20 + 20.1 + 60 + 60.08 + 820
    assert totals["production"]["responsible_share"] == "3920.72"
    assert totals["production"]["cases"] == 6
    assert data["assessment_departments"] == ["production", "purchasing", "technical"]  # not warehouse: 0

    def breakdowns() -> None:
        for dept in ("production", "purchasing", "technical"):
            engine.complete(iid, "breakdown", "assessment_breakdown", dept=dept,
                            operators=[{"operator": f"{dept}-op", "amount": "10"}], breakdown_note="已落实")

    breakdowns()
    engine.complete(iid, "sign_quality", "sign_off", decision="reject", reason="FB-7措施延误天数有误")
    assert engine.open_elements(iid) == [("review", "quality")]
    review_data = engine.task_data(engine.task(iid, "review"))
    assert review_data["rejections"][0]["reason"] == "FB-7措施延误天数有误"
    assert review_data["returned_reason"] == "FB-7措施延误天数有误"  # shown on the form
    review_and_logistics(edit=True)
    breakdowns()
    engine.complete(iid, "sign_quality", "sign_off", decision="approve")
    gm = engine.task(iid, "sign_gm")
    assert engine.dept_codes[gm.department_id] == "management"
    clock.set(datetime(2026, 3, 6, 8, 0, tzinfo=UTC))  # the GM signs on Friday 16:00 Shanghai
    engine.complete(iid, "sign_gm", "sign_off", decision="approve", reason="同意")
    finance = engine.task(iid, "finance_confirm")
    assert engine.dept_codes[finance.department_id] == "finance"
    # 3 working days: Friday 16:00-17:30, Monday, Tuesday, Wednesday until 16:00 (not Monday 16:00)
    assert finance.due_at == datetime(2026, 3, 11, 8, 0, tzinfo=UTC)
    engine.complete(iid, "finance_confirm", "finance_confirm", confirmed=True, applied_period="2026-03")
    assert engine.instance(iid).status == InstanceStatus.COMPLETED
    data = engine.data(iid)
    assert data["assessment_status"] == "confirmed" and data["assessment_rounds"] == 1
    purchasing = next(i for i in data["assessment_items"] if i["department"] == "purchasing")
    assert purchasing["measure_penalty"] == "30.00" and purchasing["head_total"] == "65.00"
    assert purchasing["edit_reason"] == "按质量部记录更正"
    assert sorted(b["department"] for b in data["breakdowns"]) == ["production", "purchasing", "technical"]
    assert data["gm_sign_off"]["decision"] == "approve"


def one_round(eng: Engine, iid: int, start_at: str = "review") -> None:
    """Run the assessment from ``start_at`` to the head of Quality's signature."""
    if start_at == "review":
        eng.complete(iid, "review", rows=[
            {"case_no": "FB-1", "department": "production", "late_measure_days": 1, "late_execution_days": 0}])
    if start_at in ("review", "logistics"):
        eng.complete(iid, "logistics", logistics_rows=[{"case_no": "FB-1", "freight": "50", "loss": "0"}])
    eng.complete(iid, "breakdown", dept="production", operators=[{"operator": "op", "amount": "10"}])


def test_a_week_rejected_three_times_still_reaches_finance(engine):
    rows = [{"case_no": "FB-1", "department": "production", "late_measure_days": 1, "late_execution_days": 0}]
    iid = engine.start("weekly_assessment", {"week_start": "2026-03-02", "rows": rows})
    one_round(engine, iid)
    # the head of Quality sends it back to Logistics: freight was wrong
    engine.complete(iid, "sign_quality", decision="reject", reason="运费有误", return_to="logistics")
    assert engine.open_elements(iid) == [("logistics", "warehouse")]
    assert engine.task_data(engine.task(iid, "logistics"))["returned_reason"] == "运费有误"
    one_round(engine, iid, "logistics")
    # the General Manager sends the breakdowns back; the amounts stay as computed
    engine.complete(iid, "sign_quality", decision="approve")
    engine.complete(iid, "sign_gm", decision="reject", reason="分解不清", return_to="breakdown")
    assert engine.open_elements(iid) == [("breakdown", "production")]
    one_round(engine, iid, "breakdown")
    # no target named (the approval screen's inline rejection): back to Quality's review
    engine.complete(iid, "sign_quality", decision="reject", reason="重新核对")
    assert engine.open_elements(iid) == [("review", "quality")]
    one_round(engine, iid)
    engine.complete(iid, "sign_quality", decision="approve")
    engine.complete(iid, "sign_gm", decision="approve")
    assert engine.open_elements(iid) == [("finance_confirm", "finance")]
    data = engine.data(iid)
    assert [(r["by"], r["return_to"], r["reason"]) for r in data["rejections"]] == [
        ("quality", "logistics", "运费有误"), ("management", "breakdown", "分解不清"),
        ("quality", "review", "重新核对")]
    assert data["assessment_rounds"] == 3 and data["assessment_status"] == "open"
    assert [i["head_total"] for i in data["assessment_items"]] == ["20.00"]  # 10 + 50 × 20 %
    assert len(data["breakdowns"]) == 1


def test_endless_rejections_raise_an_incident_instead_of_stalling(engine):
    rows = [{"case_no": "FB-1", "department": "production", "late_measure_days": 1, "late_execution_days": 0}]
    iid = engine.start("weekly_assessment", {"week_start": "2026-03-02", "rows": rows})
    one_round(engine, iid)
    for _round in range(9):
        engine.complete(iid, "sign_quality", decision="reject", reason="再核对", return_to="breakdown")
        one_round(engine, iid, "breakdown")
    row = engine.task(iid, "sign_quality")
    with engine.db.transaction() as session:
        engine.runtime.complete_task(session, row.id, form_data("sign_off", decision="reject", reason="第十次"), ACTOR)
    instance = engine.instance(iid)
    assert instance.status == InstanceStatus.INCIDENT
    assert "sent back 10 times" in instance.incident_message
    data = engine.data(iid)
    assert len(data["rejections"]) == 10 and data["assessment_items"]  # nothing is lost


def charged(eng: Engine, monday: str, now: datetime | None = None) -> list[tuple[str, str, int, list[str]]]:
    """(department, charge, first day, dates) the week from ``monday`` charges."""
    start = date.fromisoformat(monday)
    with eng.db.transaction() as session:
        return [(c["department"], c["charge"], c["first_day"], c["days"])
                for c in week_charges(session, start, start + timedelta(days=6), now=now)]


def test_a_late_8d_on_an_open_case_is_charged_in_its_weeks_once(engine):
    iid = engine.start("feedback_case", intake())
    to_preliminary(engine, iid)
    engine.complete(iid, "preliminary", "preliminary_analysis", **analysis())
    report = engine.task(iid, "report", dept="production")
    assert (report.lateness_charge, report.lateness_basis) == ("measures", "calendar")
    assert report.due_at == datetime(2026, 3, 4, 1, 0, tzinfo=UTC)  # 48 h: Wednesday 09:00 Shanghai
    # Monday 09:00 after the first week, the 8D still open: the 24-hour days begun Wed ... Sun 09:00
    engine.advance(iid, datetime(2026, 3, 9, 1, 0, tzinfo=UTC) - clock.now())
    first = ("production", "measures", 1, ["2026-03-04", "2026-03-05", "2026-03-06", "2026-03-07", "2026-03-08"])
    assert charged(engine, "2026-03-02") == [first]
    with engine.db.transaction() as session:
        assert week_rows(session, date(2026, 3, 2), date(2026, 3, 8)) == [
            {"case_no": "", "department": "production", "late_measure_days": 5, "late_execution_days": 0}]
    # the following week, still open: seven more days, none of the first week's again
    engine.advance(iid, datetime(2026, 3, 16, 1, 0, tzinfo=UTC) - clock.now())
    assert charged(engine, "2026-03-09") == [
        ("production", "measures", 6, [f"2026-03-{d:02d}" for d in range(9, 16)])]
    # written on Wednesday 18 March 10:00: 14 days and 1 hour late = 15 started days in all
    clock.set(datetime(2026, 3, 18, 2, 0, tzinfo=UTC))
    engine.complete(iid, "report", "eight_d_report", dept="production", **EIGHT_D)
    assert charged(engine, "2026-03-16") == [
        ("production", "measures", 13, ["2026-03-16", "2026-03-17", "2026-03-18"])]
    assert charged(engine, "2026-03-23", now=datetime(2026, 4, 1, tzinfo=UTC)) == []
    assert charged(engine, "2026-03-02") == [first]  # the earlier weeks do not change
    verify = engine.task_data(engine.task(iid, "verify_8d"))
    assert verify["measure_late_days"] == 5 + 7 + 3  # the 8D's own count agrees


def test_a_late_8d_of_a_cancelled_case_is_charged_until_the_cancellation(engine):
    iid = engine.start("feedback_case", intake())
    to_preliminary(engine, iid)
    engine.complete(iid, "preliminary", "preliminary_analysis", **analysis())
    clock.set(datetime(2026, 3, 5, 3, 0, tzinfo=UTC))  # Thursday 11:00: day 2 began at 09:00
    with engine.db.transaction() as session:
        engine.runtime.cancel(session, iid, ACTOR, "客户撤回")
    [report] = engine.history(iid, "report")
    assert report.state == TaskState.CANCELLED
    later = datetime(2026, 3, 30, tzinfo=UTC)
    assert charged(engine, "2026-03-02", now=later) == [("production", "measures", 1, ["2026-03-04", "2026-03-05"])]
    assert charged(engine, "2026-03-09", now=later) == []


def test_deployed_specs_load_from_the_database(engine):
    with engine.db.transaction() as session:
        for definition in engine.deployed.definitions:
            parsed = load_spec(session, definition)
            assert parsed.spec.name == definition.key


# --------------------------------------------------------------------------- corrective actions (D5)

SH = timedelta(hours=8)  # Asia/Shanghai is UTC+8 all year
D5_TWO = {**EIGHT_D, "d5_corrective": [
    {"action": "增加炉温点检", "owner": "张三", "due_date": "2026-03-10", "verification": "点检记录"},
    {"action": "更新作业指导书", "owner": "李四", "due_date": "2026-03-12"},
]}


def accepted_8d_with_actions(eng: Engine, eight_d: dict[str, Any] = D5_TWO) -> tuple[int, int]:
    """A case whose production 8D (with ``eight_d``'s D5 actions) Quality accepted: (case, tracking) ids."""
    iid = eng.start("feedback_case", intake())
    to_preliminary(eng, iid)
    eng.complete(iid, "preliminary", "preliminary_analysis", **analysis())
    eng.complete(iid, "report", "eight_d_report", dept="production", **eight_d)
    assert eng.instances("corrective_action") == []
    eng.complete(iid, "verify_8d", "verify_8d", decision="accept", reason="措施有效")
    [tracking] = eng.instances("corrective_action")
    return iid, tracking.id


def execute(eng: Engine, tid: int, executed_on: str | None = None) -> None:
    """Production reports its actions done (today, unless ``executed_on`` says when)."""
    rows = eng.task_data(eng.task(tid, "execute"))["actions"]
    done_on = executed_on or local_now().date().isoformat()  # a recorded date is never in the future
    eng.complete(tid, "execute", "execute_actions", actions=[
        {**row, "executed_on": done_on, "result": "已完成"} for row in rows
    ])


def test_accepted_8d_starts_tracking_its_corrective_actions(engine):
    iid, tid = accepted_8d_with_actions(engine)
    # the case does not wait: Quality summarises while production carries the actions out
    assert engine.open_elements(iid) == [("summary", "quality")]
    task = engine.task(tid, "execute", dept="production")
    # due at close of business (17:30 Shanghai) of the latest D5 due date, Thursday 12 March
    deadline = datetime(2026, 3, 12, 17, 30, tzinfo=UTC) - SH
    assert task.due_at == deadline
    assert task.title == "落实纠正措施" and task.context["stage"] == "执行"
    data = engine.task_data(task)
    assert data["case_number"] == "FB-2026-00001"
    assert [(a["action"], a["due_date"], a["executed_on"]) for a in data["actions"]] == [
        ("增加炉温点检", "2026-03-10", None), ("更新作业指导书", "2026-03-12", None),
    ]

    # the deadline timer fires at the deadline and leaves the task open (non-interrupting)
    assert not engine.advance(tid, deadline - clock.now() - timedelta(seconds=1))
    assert engine.advance(tid, timedelta(seconds=2))
    assert engine.data(tid)["execution_overdue"] is True
    assert engine.task(tid, "execute").id == task.id

    # reported Monday 10:00: Friday (8 h) + Monday 08:30-10:00 = 9.5 working hours → 2 working days late
    clock.set(datetime(2026, 3, 16, 10, 0, tzinfo=UTC) - SH)
    execute(engine, tid, executed_on="2026-03-13")
    verify = engine.task(tid, "verify_execution", dept="quality")
    assert engine.task_data(verify)["execution_reports"][0]["late_days"] == 2
    engine.complete(tid, "verify_execution", "verify_execution", execution_decision="accept",
                    execution_reason="现场确认已落实")
    assert engine.instance(tid).status == InstanceStatus.COMPLETED
    result = engine.data(tid)["execution_result"]
    assert (result["department"], result["accepted"], result["rounds"]) == ("production", True, 1)
    assert result["late_execution_days"] == 2 and result["overdue"] is True
    assert [a["executed_on"] for a in result["actions"]] == ["2026-03-13", "2026-03-13"]
    assert engine.instance(iid).status == InstanceStatus.RUNNING  # the case runs on by itself


def test_corrective_actions_done_in_time_are_not_late(engine):
    _iid, tid = accepted_8d_with_actions(engine)
    clock.set(datetime(2026, 3, 12, 17, 0, tzinfo=UTC) - SH)  # half an hour before the deadline
    execute(engine, tid)
    engine.complete(tid, "verify_execution", "verify_execution", execution_decision="accept", execution_reason="好")
    result = engine.data(tid)["execution_result"]
    assert result["late_execution_days"] == 0 and result["overdue"] is False


def test_deadline_on_a_day_off_moves_to_the_next_working_day(engine):
    saturday = {**EIGHT_D, "d5_corrective": [{"action": "更换夹具", "due_date": "2026-03-14"}]}
    _iid, tid = accepted_8d_with_actions(engine, saturday)
    assert engine.task(tid, "execute").due_at == datetime(2026, 3, 16, 17, 30, tzinfo=UTC) - SH


def test_execution_sent_back_is_due_again_and_rework_is_bounded(engine):
    _iid, tid = accepted_8d_with_actions(engine)
    deadline = datetime(2026, 3, 12, 17, 30, tzinfo=UTC) - SH
    execute(engine, tid)
    engine.complete(tid, "verify_execution", "verify_execution", execution_decision="reject",
                    execution_reason="缺少点检记录")
    # sent back early: the new round is still due at the original deadline, not earlier
    again = engine.task(tid, "execute")
    assert again.due_at == deadline
    assert engine.task_data(again)["execution_verifications"][0]["reason"] == "缺少点检记录"
    # sent back after the deadline: 3 working days from now (Wednesday 18 March 09:00 → Monday 23 March 09:00)
    clock.set(datetime(2026, 3, 18, 9, 0, tzinfo=UTC) - SH)
    execute(engine, tid)
    engine.complete(tid, "verify_execution", "verify_execution", execution_decision="reject", execution_reason="不足")
    assert engine.task(tid, "execute").due_at == datetime(2026, 3, 23, 9, 0, tzinfo=UTC) - SH
    for _ in range(2):
        execute(engine, tid)
        engine.complete(tid, "verify_execution", "verify_execution", execution_decision="reject",
                        execution_reason="不足")
    assert engine.instance(tid).status == InstanceStatus.COMPLETED
    result = engine.data(tid)["execution_result"]
    assert result["rounds"] == 4 and result["accepted"] is False
    assert [r["round"] for r in result["reports"]] == [1, 2, 3, 4]


def test_reported_rows_are_matched_to_the_planned_actions(engine):
    _iid, tid = accepted_8d_with_actions(engine)
    # the department removed the first row on the form before submitting
    today = local_now().date().isoformat()
    engine.complete(tid, "execute", "execute_actions", actions=[
        {"action": "更新作业指导书", "due_date": "2026-03-12", "executed_on": today, "result": "已发布"},
    ])
    reported = engine.task_data(engine.task(tid, "verify_execution"))["actions"]
    assert [(a["action"], a["executed_on"], a["result"]) for a in reported] == [
        ("增加炉温点检", None, None), ("更新作业指导书", today, "已发布"),
    ]


def test_no_tracking_without_an_accepted_8d(engine):
    iid = engine.start("feedback_case", intake())
    to_preliminary(engine, iid)
    engine.complete(iid, "preliminary", "preliminary_analysis", **analysis())
    for _ in range(4):  # rejected until the rework bound ends it unaccepted
        engine.complete(iid, "report", "eight_d_report", **EIGHT_D)
        engine.complete(iid, "verify_8d", "verify_8d", decision="reject", reason="不充分")
    assert engine.open_elements(iid) == [("summary", "quality")]
    assert engine.instances("corrective_action") == []
