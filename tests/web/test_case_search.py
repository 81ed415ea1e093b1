"""Case search (item 10): full text over the case's columns and the departments' measures,
with the database's own text index; the list's filters and its Excel export."""

from __future__ import annotations

import io
import re
from datetime import timedelta

from openpyxl import load_workbook
from sqlalchemy import delete, select
from sqlalchemy import text as sql

from app.clock import clock, local_now
from app.data.models import AppSetting, Case, CaseSearch
from app.services import case_search
from tests.web.helpers import VERIFY_OK, create_case, form_tokens, open_task, submit_task, text, user_client


def to_english(client) -> None:
    token = form_tokens(client.get("/cases/new").get_data(as_text=True))["csrf_token"]
    assert client.post("/language/en", data={"csrf_token": token}).status_code == 302


def numbers(response) -> list[str]:
    assert response.status_code == 200
    return re.findall(r'data-testid="case-row" data-case-number="([^"]+)"', response.get_data(as_text=True))


def close_case(app, database, case_id: int, root_cause: str = "装配扭矩不足导致松动") -> None:
    """Walk the fixture process to the end through the pages (8D by production)."""
    marketing = user_client(app, "marketing")
    with database.session() as s:
        verify = open_task(s, case_id, "verify")
    assert submit_task(marketing, verify.id, VERIFY_OK).status_code == 302
    with database.session() as s:
        analysis = open_task(s, case_id, "analysis")
    assert submit_task(user_client(app, "quality"), analysis.id,
                       {"responsible_departments": ["production"]}).status_code == 302
    with database.session() as s:
        eight_d = open_task(s, case_id, "eight_d", "production")
    assert submit_task(user_client(app, "production"), eight_d.id, {"root_cause": root_cause}).status_code == 302
    with database.session() as s:
        close = open_task(s, case_id, "close")
    assert submit_task(marketing, close.id, {"customer_reply": "已更换并复检。"}).status_code == 302
    with database.session() as s:
        assert s.get(Case, case_id).status == "closed"


def test_a_closed_case_is_found_by_serial_number_description_phrase_and_measures(app, database):
    marketing = user_client(app, "marketing")
    case_id, _ = create_case(marketing, serial_numbers="SN-88231\nSN-88232", customer_contact="李四 13911112222",
                             description="电机在低温环境下启动困难，伴随异响。")
    create_case(marketing, customer_name="乙公司", serial_numbers="SN-10001", description="外壳划伤。",
                product_model="YK-9")
    close_case(app, database, case_id)
    with database.session() as s:
        number = s.get(Case, case_id).number
    for query in ("SN-88232", "sn-88231", "低温环境下启动", "13911112222", "李四", "XJ-200", "扭矩不足",
                  number, number[-5:], "低温 异响"):
        assert numbers(marketing.get("/cases/", query_string={"q": query})) == [number], query
    # short words (under three characters) fall back to a substring match
    assert numbers(marketing.get("/cases/", query_string={"q": "划伤"})) != []
    assert numbers(marketing.get("/cases/", query_string={"q": "乙"})) != [number]
    # every word must match; words with search syntax are plain text
    assert numbers(marketing.get("/cases/", query_string={"q": "低温 划伤"})) == []
    for odd in ('"', 'SN* OR x', "a'b", "%", "_", "NEAR(a b)", "x" * 100):
        assert marketing.get("/cases/", query_string={"q": odd}).status_code == 200, odd


def test_the_search_document_is_projected_and_backfilled_from_the_audit_trail(app, database):
    marketing = user_client(app, "marketing")
    case_id, _ = create_case(marketing, serial_numbers="SN-55501")
    close_case(app, database, case_id, root_cause="供应商来料硬度偏低")
    with database.session() as s:
        row = s.get(CaseSearch, case_id)
        assert "SN-55501" in row.document and "供应商来料硬度偏低" in row.document
        assert "已更换并复检。" in row.document  # the reply's text too
        assert "complaint" not in row.document  # choices are not free text
    with database.transaction() as s:  # as after the migration, before `flask migrate` indexed them
        s.execute(delete(CaseSearch))
    assert numbers(marketing.get("/cases/", query_string={"q": "硬度偏低"})) == []
    with database.transaction() as s:
        assert case_search.backfill(s) == 1
    with database.transaction() as s:
        assert case_search.backfill(s) == 0  # nothing missing
        assert "供应商来料硬度偏低" in s.get(CaseSearch, case_id).document
    assert len(numbers(marketing.get("/cases/", query_string={"q": "硬度偏低"}))) == 1
    # a column added to the searched ones: every case is indexed again
    with database.transaction() as s:
        s.get(AppSetting, case_search.FIELDS_SETTING).value = ["number"]
    with database.transaction() as s:
        assert case_search.backfill(s) == 1


def test_flask_migrate_indexes_cases_without_a_document(app, database):
    create_case(user_client(app, "marketing"), serial_numbers="SN-77001")
    with database.transaction() as s:
        s.execute(delete(CaseSearch))
    result = app.test_cli_runner().invoke(args=["migrate"])
    assert result.exit_code == 0, result.output
    assert "1 case(s) indexed" in result.output
    result = app.test_cli_runner().invoke(args=["search-reindex"])
    assert result.exit_code == 0 and "1 case(s) indexed" in result.output


def test_the_database_text_index_is_used(app, database):
    """PostgreSQL: pg_trgm with a GIN trigram index; SQLite: an FTS5 trigram table kept by triggers."""
    create_case(user_client(app, "marketing"), serial_numbers="SN-99001")
    with database.session() as s:
        if database.dialect == "postgresql":
            assert s.execute(sql("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")).scalar() == 1
            indexdef = s.execute(sql("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_case_search_document_trgm'")
                                 ).scalar()
            assert "gin" in indexdef and "gin_trgm_ops" in indexdef
        else:
            found = s.execute(sql("SELECT rowid FROM case_search_fts WHERE case_search_fts MATCH '\"99001\"'")).all()
            assert len(found) == 1


def test_case_list_filters_like_the_inbox(app, database):
    marketing = user_client(app, "marketing")
    complaint, _ = create_case(marketing, customer_name="甲公司", category="quality", channel="hotline")
    consultation, _ = create_case(marketing, customer_name="乙公司", feedback_type="consultation",
                                  category="service", channel="email", urgency="general")
    with database.session() as s:
        first, second = s.get(Case, complaint).number, s.get(Case, consultation).number
        verify = open_task(s, complaint, "verify")
    assert submit_task(marketing, verify.id, VERIFY_OK).status_code == 302
    quality = user_client(app, "quality")
    with database.session() as s:
        analysis = open_task(s, complaint, "analysis")
    assert submit_task(quality, analysis.id, {"responsible_departments": ["production"]}).status_code == 302
    assert numbers(quality.get("/cases/?type=consultation")) == [second]
    assert numbers(quality.get("/cases/?category=quality")) == [first]
    assert numbers(quality.get("/cases/?channel=email")) == [second]
    assert numbers(quality.get("/cases/?urgency=general")) == [second]
    assert numbers(quality.get("/cases/", query_string={"stage": "8D"})) == [first]
    assert numbers(quality.get("/cases/?stage=verify")) == [second]
    with database.session() as s:
        from app.data.models import Department

        production_id = s.scalar(select(Department.id).where(Department.code == "production"))
    assert numbers(quality.get(f"/cases/?department={production_id}")) == [first]
    today = local_now().date()
    assert len(numbers(quality.get(f"/cases/?from={today}&to={today}"))) == 2
    assert numbers(quality.get(f"/cases/?from={today + timedelta(days=1)}")) == []
    assert numbers(quality.get("/cases/?overdue=1")) == []
    clock.set(clock.now() + timedelta(days=60))
    assert numbers(quality.get("/cases/?overdue=1")) == [first]  # its 8D was due in 48 hours
    clock.reset()
    # bad input is a message, never a 500: the filter is ignored and the rest applies
    page = quality.get("/cases/?from=2026-02-31&type=consultation&department=99999999999999&category=nonsense")
    assert numbers(page) == [second]
    assert "2026-02-31" in text(page) and "YYYY-MM-DD" in text(page)
    # the filters are kept on the page and in the export link
    page = text(quality.get("/cases/?type=consultation&q=乙公司"))
    assert 'value="乙公司"' in page
    assert re.search(r'href="/cases/export.xlsx\?[^"]*type=consultation', page)


def test_export_to_excel_with_the_current_filters(app, database):
    marketing = user_client(app, "marketing")
    create_case(marketing, customer_name="甲公司", serial_numbers="SN-1")
    create_case(marketing, customer_name="乙公司", feedback_type="consultation", serial_numbers="SN-2")
    response = marketing.get("/cases/export.xlsx?type=consultation")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert "attachment" in response.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("案件编号", "接收时间", "客户") and len(rows) == 2
    assert rows[1][2] == "乙公司" and rows[1][5] == "SN-2" and rows[1][6] == "咨询" and rows[1][11] == "核实反馈"
    everything = load_workbook(io.BytesIO(marketing.get("/cases/export.xlsx?q=SN").data)).active
    assert everything.max_row == 3
    with database.session() as s:
        from app.data.models import AuditEvent

        assert s.scalars(select(AuditEvent.message).where(AuditEvent.action == "cases_exported")
                         .order_by(AuditEvent.id)).all() == ["cases type=consultation", "cases q=SN"]
    assert user_client(app, "designer").get("/cases/export.xlsx").status_code == 403
    english = user_client(app, "marketing")
    to_english(english)
    sheet = load_workbook(io.BytesIO(english.get("/cases/export.xlsx?type=consultation").data)).active
    header, row = list(sheet.iter_rows(values_only=True))
    assert header[0] == "Case number" and row[6] == "Consultation" and row[11] == "Verify feedback"


def test_english_case_list_shows_stages_in_english(app):
    marketing = user_client(app, "marketing")
    create_case(marketing)
    to_english(marketing)
    page = text(marketing.get("/cases/"))
    assert re.search(r'data-testid="case-stage">\s*Verify feedback\s*<', page), page[-3000:]
