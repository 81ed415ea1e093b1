"""The analysis dashboard and the report API on a small data set whose figures are worked out by
hand below (period: March 2026; previous period: February 2026; now: 20 March 12:00 Shanghai).

Cases (received, Shanghai time):
  C1 2 Mar complaint/quality/hotline A S1, closed 10 Mar (192 h), survey 5; causes: production
  C2 5 Mar complaint/quality/email  A S2, closed 6 Mar (24 h), survey 4; causes: production, design
  C3 1 Mar consultation/service/hotline B, open (19 days), marketing task open, clock past first answer
  C4 12 Mar complaint/quality/web   A S1 (repeats C1), open (8 days); cause: no trouble found (stock count)
  P1, P2 Feb, closed in Feb, surveys 2 and 3; P3 received 20 Feb, closed 3 Mar (264 h), no survey
  (P1–P3: complaints about model A.)

Repeats under the default early-warning rules (model: 3 cases in 30 days; serial: 2 in 365 days):
C1 (P1, P2, P3 on model A within 30 days), C2 (P2, P3, C1) and C4 (model A; serial S1 of C1) —
3 of the 4 cases received in March; C3 is a consultation, which does not count.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from app.clock import clock
from app.data.models import (
    AssessmentLine,
    Case,
    CaseRootCause,
    Department,
    HumanTask,
    ProcessDefinition,
    ProcessInstance,
    SurveyResponse,
)
from app.services.alerts import project_intake
from app.services.analytics.projection import refresh_match_keys
from tests.conftest import api_token, login

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 20, 12, tzinfo=SH)
MARCH = {"period": "month", "start": "2026-03-15"}


def at(month: int, day: int, hour: int = 12) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=SH).astimezone(UTC)


class World:
    def __init__(self, session):
        self.session = session
        self.dept = {d.code: d.id for d in session.scalars(select(Department))}
        definition = ProcessDefinition(key="t", version=1, content_hash="-", spec_hash="-", bpmn_xml="")
        session.add(definition)
        session.flush()
        instance = ProcessInstance(definition_id=definition.id, process_key="t", state="{}", serializer_version="-")
        session.add(instance)
        session.flush()
        self.instance_id = instance.id
        self.tasks = 0

    def case(self, number, received, closed=None, type_="complaint", category="quality", channel="hotline",
             model="A", serial=None, score=None, **clock_fields):
        case = Case(number=number, feedback_type=type_, category=category, channel=channel, customer_name="客户",
                    product_model=model, serial_numbers=serial, received_at=received, closed_at=closed,
                    status="closed" if closed else "open", public_token=number, data={}, **clock_fields)
        self.session.add(case)
        self.session.flush()
        project_intake(self.session, case)
        refresh_match_keys(self.session, case)
        if score is not None:
            self.session.add(SurveyResponse(case_id=case.id, score=score))
        return case

    def task(self, case, dept, stage, created, completed=None, due=None, charge=None):
        self.tasks += 1
        self.session.add(HumanTask(
            id=f"t{self.tasks}", instance_id=self.instance_id, case_id=case.id, process_key="t", element_id=stage,
            title=stage, stage=stage, department_id=self.dept[dept], state="completed" if completed else "open",
            created_at=created, completed_at=completed, due_at=due, lateness_charge=charge, context={}))

    def cause(self, case, category, source="8d", dept=None):
        self.session.add(CaseRootCause(case_id=case.id, category=category, source=source, received_at=case.received_at,
                                       department_id=self.dept[dept] if dept else None))


@pytest.fixture
def world(app, database):
    clock.set(NOW.astimezone(UTC))
    with database.transaction() as session:
        w = World(session)
        c1 = w.case("C1", at(3, 2), at(3, 10), serial="S1", score=5, clock_state="met",
                    first_answer_met=True, resolution_met=False)
        c2 = w.case("C2", at(3, 5), at(3, 6), channel="email", serial="S2", score=4, clock_state="met",
                    first_answer_met=True, resolution_met=True)
        c3 = w.case("C3", at(3, 1), type_="consultation", category="service", model="B", clock_state="breached",
                    first_answer_due_at=at(3, 9), resolution_due_at=at(3, 30))
        c4 = w.case("C4", at(3, 12), channel="web", serial="S1", clock_state="on_track", first_answer_met=True,
                    resolution_due_at=at(3, 25))
        w.case("P1", at(2, 2), at(2, 10), score=2)
        w.case("P2", at(2, 3), at(2, 12), score=3)
        w.case("P3", at(2, 20), at(3, 3))
        w.task(c1, "marketing", "核实", at(3, 2), at(3, 2, 16))
        w.task(c1, "quality", "分析", at(3, 2, 16), at(3, 3))
        w.task(c1, "production", "8D", at(3, 3), at(3, 4), due=at(3, 5), charge="measures")
        w.task(c2, "marketing", "核实", at(3, 5), at(3, 5, 14))
        w.task(c2, "production", "8D", at(3, 5, 14), at(3, 8, 14), due=at(3, 7, 14), charge="measures")
        w.task(c3, "marketing", "核实", at(3, 1), due=at(3, 25))
        w.task(c4, "production", "执行", at(3, 12), due=at(3, 13), charge="execution")
        w.cause(c1, "production", dept="production")
        w.cause(c2, "production", dept="production")
        w.cause(c2, "design", dept="purchasing")
        w.cause(c4, "no_trouble_found", source="stock_count")
        p = w.dept["production"]
        session.add_all([
            AssessmentLine(instance_id=w.instance_id, week_start=datetime(2026, 3, 2).date(), department_id=p,
                           measure_penalty=Decimal("10"), execution_penalty=Decimal("0"),
                           logistics_cost=Decimal("150.50")),
            AssessmentLine(instance_id=w.instance_id, week_start=datetime(2026, 3, 9).date(), department_id=p,
                           measure_penalty=Decimal("0"), execution_penalty=Decimal("40"),
                           logistics_cost=Decimal("0")),
            AssessmentLine(instance_id=w.instance_id, week_start=datetime(2026, 2, 23).date(), department_id=p,
                           measure_penalty=Decimal("999"), execution_penalty=Decimal("0"),
                           logistics_cost=Decimal("0")),
        ])
    return app


def report(client, headers, metric, **params):
    response = client.get(f"/api/v1/reports/{metric}", query_string={**MARCH, **params}, headers=headers)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["period"] == {"kind": "month", "start": "2026-03-01", "end": "2026-03-31"}
    assert body["previous"] == {"start": "2026-02-01", "end": "2026-02-28"}
    return body["data"]


def test_figures_by_hand_through_the_api(world):
    client = world.test_client()
    headers = {**api_token(client, "manager"), "Accept-Language": "en"}

    volumes = report(client, headers, "volumes")
    assert (volumes["total"], volumes["previous_total"], volumes["bucket"]) == (4, 3, "day")
    channels = {s["key"]: s["total"] for s in volumes["dimensions"]["channel"]["series"]}
    assert channels == {"hotline": 2, "email": 1, "web": 1}
    hotline = next(s for s in volumes["dimensions"]["channel"]["series"] if s["key"] == "hotline")
    assert hotline["counts"][0] == 1 and hotline["counts"][1] == 1  # C3 on 1 March, C1 on 2 March

    causes = report(client, headers, "pareto_causes")["items"]
    assert [(i["key"], i["count"], i["share"], i["cumulative"]) for i in causes] == [
        ("production", 2, 50.0, 50.0), ("design", 1, 25.0, 75.0), ("no_trouble_found", 1, 25.0, 100.0)]
    assert causes[0]["label"] == "Production process"
    models = report(client, headers, "pareto_models")["items"]
    assert [(i["key"], i["count"], i["cumulative"]) for i in models] == [("A", 3, 75.0), ("B", 1, 100.0)]

    cycle = report(client, headers, "cycle_times")
    stages = {s["key"]: (s["count"], s["median_hours"], s["p90_hours"]) for s in cycle["stages"]}
    assert stages == {"核实": (2, 2.0, 4.0), "分析": (1, 20.0, 20.0), "8D": (2, 24.0, 72.0),
                      "case": (3, 192.0, 264.0)}
    departments = {d["key"]: (d["median_hours"], d["p90_hours"]) for d in cycle["departments"]}
    assert departments == {"marketing": (2.0, 4.0), "quality": (20.0, 20.0), "production": (24.0, 72.0)}

    on_time = report(client, headers, "on_time")
    production = next(d for d in on_time["departments"] if d["key"] == "production")
    assert production["measures"] == {"on_time": 1, "late": 1, "rate": 50.0}
    assert production["execution"] == {"on_time": 0, "late": 1, "rate": 0.0}
    assert on_time["customer"]["first_answer"] == {"on_time": 3, "late": 1, "rate": 75.0}
    assert on_time["customer"]["resolution"] == {"on_time": 1, "late": 1, "rate": 50.0}
    # the customer's clock of the cases a department worked on: marketing C1 (met, missed), C2 (met, met),
    # C3 (first answer overdue, resolution not yet due)
    marketing = next(d for d in on_time["departments"] if d["key"] == "marketing")
    assert marketing["first_answer"] == {"on_time": 2, "late": 1, "rate": 66.7}
    assert marketing["resolution"] == {"on_time": 1, "late": 1, "rate": 50.0}

    ageing = report(client, headers, "ageing")
    assert {b["key"]: b["count"] for b in ageing["buckets"]} == {"0-3": 0, "4-7": 0, "8-14": 1, "15-30": 1, "31+": 0}
    assert [(o["key"], o["count"]) for o in ageing["overdue"]] == [("production", 1)]

    satisfaction = report(client, headers, "satisfaction")
    # index = 25 × (mean − 1): March (5 + 4) / 2 = 4.5 → 87.5; February (2 + 3) / 2 = 2.5 → 37.5
    assert (satisfaction["index"], satisfaction["previous_index"], satisfaction["change"]) == (87.5, 37.5, 50.0)
    assert (satisfaction["responses"], satisfaction["closed"], satisfaction["response_rate"]) == (2, 3, 66.7)
    assert {lv["key"]: lv["count"] for lv in satisfaction["levels"]} == {"5": 1, "4": 1, "3": 0, "2": 0, "1": 0}

    costs = report(client, headers, "costs")
    assert costs["departments"] == [{"key": "production", "label": "Production Workshop", "measure_penalty": "10.00",
                                     "execution_penalty": "40.00", "logistics_cost": "150.50"}]

    repeat = report(client, headers, "repeat_rate")
    assert (repeat["cases"], repeat["repeats"], repeat["rate"]) == (4, 3, 75.0)


def test_excel_and_csv_downloads_hold_the_same_figures(world):
    client = world.test_client()
    login(client, "quality")
    response = client.get("/dashboard/export/pareto_causes", query_string={**MARCH, "format": "xlsx"})
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = [tuple(c.value for c in row) for row in sheet.iter_rows()]
    header = rows.index(("根本原因", "数量", "占比(%)", "累计占比(%)"))
    assert rows[header + 1:] == [("生产过程", 2, 50, 50), ("设计", 1, 25, 75), ("未发现问题", 1, 25, 100)]

    response = client.get("/dashboard/export/satisfaction", query_string={**MARCH, "format": "csv"})
    assert response.status_code == 200 and response.mimetype == "text/csv"
    lines = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert ["满意度指数(0-100)", "87.5", ""] in lines and ["变化", "50.0", ""] in lines


def test_a_department_head_sees_only_their_department(world):
    client = world.test_client()
    headers = api_token(client, "production_head")
    # cases where production has (or had) a task: C1, C2, C4
    assert report(client, headers, "volumes")["total"] == 3
    on_time = report(client, headers, "on_time")
    assert [d["key"] for d in on_time["departments"]] == ["production"]
    # C1 (met, missed), C2 (met, met), C4 (met, resolution not yet due)
    assert on_time["departments"][0]["first_answer"] == {"on_time": 3, "late": 0, "rate": 100.0}
    assert on_time["departments"][0]["resolution"] == {"on_time": 1, "late": 1, "rate": 50.0}
    repeat = report(client, headers, "repeat_rate")  # C1, C2 and C4 are all repeats
    assert (repeat["cases"], repeat["repeats"], repeat["rate"]) == (3, 3, 100.0)
    refused = client.get("/api/v1/reports/volumes", query_string={**MARCH, "department": "marketing"},
                         headers=headers)
    assert refused.status_code == 403
    login(client, "production_head")
    page = client.get("/dashboard/", query_string=MARCH)
    assert page.status_code == 200 and b'data-testid="dash-scope"' in page.data
    assert client.get("/dashboard/", query_string={**MARCH, "department": "marketing"}).status_code == 403
    assert client.get("/dashboard/data/volumes", query_string={**MARCH, "department": "marketing"}).status_code == 403
    listed = client.get("/dashboard/cases", query_string={**MARCH, "chart": "pareto_models", "key": "A"})
    assert listed.status_code == 200
    assert listed.data.count(b'data-testid="drill-row"') == 3  # C1, C2, C4 (all model A)
    staff = world.test_client()
    login(staff, "production")
    assert staff.get("/dashboard/").status_code == 403


def test_the_cases_behind_a_bar(world):
    client = world.test_client()
    login(client, "manager")
    page = client.get("/dashboard/cases", query_string={**MARCH, "chart": "pareto_causes", "key": "production"})
    assert page.status_code == 200
    numbers = [n for n in (b"C1", b"C2", b"C3", b"C4") if b'data-number="' + n + b'"' in page.data]
    assert numbers == [b"C1", b"C2"]
    volumes = client.get("/dashboard/cases", query_string={**MARCH, "chart": "volumes", "by": "channel",
                                                            "key": "hotline", "bucket": "2026-03-01"})
    assert b'data-number="C3"' in volumes.data and b'data-number="C1"' not in volumes.data
    repeats = client.get("/dashboard/cases", query_string={**MARCH, "chart": "repeat_rate"})
    assert [n for n in (b"C1", b"C2", b"C3", b"C4") if b'data-number="' + n + b'"' in repeats.data] == [
        b"C1", b"C2", b"C4"]


def test_bad_input_is_a_clear_message(world):
    client = world.test_client()
    headers = {**api_token(client, "manager"), "Accept-Language": "en"}
    bad = client.get("/api/v1/reports/volumes", query_string={"period": "custom", "start": "2026-03-09",
                                                              "end": "2026-03-01"}, headers=headers)
    assert bad.status_code == 400 and "before the start" in bad.get_json()["error"]["message"]
    assert client.get("/api/v1/reports/nothing", headers=headers).status_code == 404
    login(client, "manager")
    page = client.get("/dashboard/", query_string={"period": "week", "start": "2026-13-01"})
    assert page.status_code == 400
    assert "开始日期不是日期" in page.get_data(as_text=True) and 'value="2026-13-01"' in page.get_data(as_text=True)
    assert client.get("/dashboard/cases", query_string={"chart": "pareto_causes", "key": "bogus"}).status_code == 400


def test_the_dashboard_page_has_every_chart_and_its_downloads(world):
    client = world.test_client()
    login(client, "manager")
    page = client.get("/dashboard/", query_string=MARCH).get_data(as_text=True)
    for metric in ("volumes", "pareto_causes", "pareto_models", "cycle_times", "on_time", "ageing", "satisfaction",
                   "costs", "repeat_rate"):
        assert f'data-chart="{metric}"' in page and f'data-testid="xlsx-{metric}"' in page
    assert "<script>" not in page and "vendor/echarts/echarts.min.js" in page
    assert "25 × (平均分 − 1)" in page  # the index's formula, stated on the page
