"""Case search finds exactly the right cases for every kind of word, whichever way it is served
(the index's matches sorted, or the newest cases checked one by one beyond the count's cap), on
both databases — speed must not change what a search finds."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import delete, insert, select, update
from sqlalchemy import text as sql

from app.clock import clock
from app.data.models import Case, CaseSearch
from app.data.queries.cases import case_statuses, cases_query, search_page
from app.data.queries.search import indexed_pair, search_words, short_terms
from app.services import case_search
from tests.conftest import api_token
from tests.web.helpers import user_client

CUSTOMERS = ["浙江精密有限公司", "华东机械有限公司", "Acme Industrial GmbH"]
DESCRIPTIONS = ["控制板烧毁，漏油严重。", "电机过热停机", "Motor OVERHEATING after two hours", "报警代码E21，漏油",
                "外壳变形开裂", "显示屏无画面 50%_off"]


def _fill(database, count: int = 60) -> dict[int, str]:
    """``count`` cases (the same receipt time for some, so that ties are ordered by id); returns
    each case's search document."""
    now = clock.now()
    documents = {}
    with database.transaction() as session:
        for i in range(1, count + 1):
            case = {"id": i, "number": f"FB-T-{i:04d}", "feedback_type": "complaint",
                    "customer_name": CUSTOMERS[i % 3], "customer_contact": f"联系人{i}",
                    "product_model": f"XJ-{500 + i % 7}", "serial_numbers": f"SN-{i * 7:08d}",
                    "description": DESCRIPTIONS[i % len(DESCRIPTIONS)], "status": "open" if i % 2 else "closed",
                    "received_at": now - timedelta(minutes=(count - i) // 3), "public_token": f"t-{i}",
                    "customer_locale": "zh", "clock_paused_minutes": 0, "data": {}}
            session.execute(insert(Case), [case])
            row = case_search.refresh(session, session.get(Case, i))
            documents[i] = row.document
    return documents


def _expected(documents: dict[int, str], query: str, database, status: str | None = None) -> list[int]:
    words = [word.lower() for word in search_words(query)]
    with database.session() as session:
        cases = session.scalars(select(Case).order_by(Case.received_at.desc(), Case.id.desc())).all()
        return [case.id for case in cases if all(word in documents[case.id].lower() for word in words)
                and (status is None or case.status == status)]


QUERIES = [
    "SN-00000350",  # a serial number: one case
    "控制板烧毁",  # a Chinese phrase
    "浙江精密有限公司",  # a customer
    "漏油",  # two Chinese characters: the pair index
    "漏",  # one character: a scan
    "overheating", "OVERHEATING", "Overheat",  # a Latin word, any case
    "xj-503",  # a model code
    "E2",  # two ASCII characters: a scan
    "有限公司 漏油",  # two words, each through its own index
    "50%_off", "%", "_",  # LIKE's wildcards are plain characters
    '"漏油" OR x',  # FTS syntax is plain text
    "不存在的词语",  # nothing
]


@pytest.mark.parametrize("cap", [1000, 4])
def test_every_kind_of_word_finds_exactly_its_cases_newest_first(database, cap):
    documents = _fill(database)
    with database.session() as session:
        for query in QUERIES:
            for status in (None, "closed"):
                expected = _expected(documents, query, database, status)

                def stmt_in(shape, query=query, status=status):
                    return cases_query(None, status, query, dialect=database.dialect, shape=shape)

                for shape in ("index", "scan"):
                    found = [case.id for case in session.scalars(stmt_in(shape))]
                    assert found == expected, (query, status, shape)
                for offset in (0, 3, 10):
                    cases, total, exact = search_page(session, stmt_in, offset, 5, cap)
                    assert [case.id for case in cases] == expected[offset:offset + 5], (query, status, cap, offset)
                    assert (total, exact) == ((len(expected), True) if len(expected) <= cap else (cap, False))


def test_the_pair_index_follows_the_document(database):
    assert short_terms("控制板烧毁，漏油。E21 ÉÉ 漏油") == " 制板 控制 板烧 漏油 烧毁 " and short_terms("E21") == ""
    assert indexed_pair("漏油") and not indexed_pair("E2") and not indexed_pair("漏") and not indexed_pair("，漏")
    _fill(database, 6)
    with database.session() as session:
        def found(query):
            return [case.id for case in session.scalars(cases_query(None, search=query, dialect=database.dialect))]

        assert found("漏油") == [6, 3]
    with database.transaction() as session:  # a changed description is found by its new words only
        session.execute(update(Case).where(Case.id == 6).values(description="密封圈老化"))
        case_search.refresh(session, session.get(Case, 6))
    with database.session() as session:
        assert found("漏油") == [3] and found("老化") == [6] and found("控制板") == []
        assert session.get(CaseSearch, 6).short_terms == short_terms(session.get(CaseSearch, 6).document)
    with database.transaction() as session:  # flask search-reindex rebuilds the pairs too
        session.execute(update(CaseSearch).values(short_terms=""))
    with database.session() as session:
        assert found("老化") == []
    with database.transaction() as session:
        assert case_search.backfill(session, everything=True) == 6
    with database.session() as session:
        assert found("漏油") == [3] and found("老化") == [6]
    with database.transaction() as session:  # deleting a document takes it out of both indexes
        session.execute(delete(CaseSearch).where(CaseSearch.case_id == 3))
    with database.session() as session:
        assert found("漏油") == [] and found("报警代码") == []


def test_the_case_list_and_the_api_count_a_common_word_up_to_the_cap(app, database):
    documents = _fill(database, 1010)
    expected = _expected(documents, "fb-t", database)
    assert len(expected) == 1010
    page = user_client(app, "quality").get("/cases/", query_string={"q": "fb-t"}).get_data(as_text=True)
    assert re.search(r'data-testid="case-total">\s*1000\+', page)
    numbers = re.findall(r'data-testid="case-row" data-case-number="FB-T-(\d+)"', page)
    assert [int(n) for n in numbers] == expected[:50]
    page = user_client(app, "quality").get("/cases/", query_string={"q": "漏油 FB-T", "page": "2"})
    fewer = _expected(documents, "漏油 FB-T", database)
    assert re.search(rf'data-testid="case-total">\s*{len(fewer)}<', page.get_data(as_text=True))
    numbers = re.findall(r'data-testid="case-row" data-case-number="FB-T-(\d+)"', page.get_data(as_text=True))
    assert [int(n) for n in numbers] == fewer[50:100]
    client = app.test_client()
    headers = api_token(client, "quality")
    body = client.get("/api/v1/cases", query_string={"q": "FB-T", "limit": 5, "offset": 5}, headers=headers).get_json()
    assert (body["total"], body["total_exact"]) == (1000, False)
    assert [case["id"] for case in body["cases"]] == expected[5:10]
    body = client.get("/api/v1/cases", query_string={"q": "SN-00000350"}, headers=headers).get_json()
    assert (body["total"], body["total_exact"], [case["id"] for case in body["cases"]]) == (1, True, [50])
    with database.session() as session:
        assert case_statuses(session) == ["closed", "open"]


def test_a_search_plans_for_data_in_memory_without_parallel_workers_for_its_transaction_only(database):
    """PostgreSQL: with the default cost settings a filtered search's count read every case (a
    hash join, parallel scans); search_page sets cheaper random reads and no parallel workers —
    for its own transaction, so nothing else the connection runs later is planned that way."""
    if database.dialect != "postgresql":
        pytest.skip("a PostgreSQL setting (TEST_DB=postgres)")
    _fill(database, 3)
    with database.session() as session:
        before = session.scalars(sql("SELECT current_setting('random_page_cost') UNION ALL "
                                     "SELECT current_setting('max_parallel_workers_per_gather')")).all()
        session.rollback()

        def stmt_in(shape):
            return cases_query(None, "closed", "FB-T", dialect=database.dialect, shape=shape)

        assert [case.id for case in search_page(session, stmt_in, 0, 5, 1000)[0]] == [2]
        assert session.scalar(sql("SHOW random_page_cost")) == "1.1"
        assert session.scalar(sql("SHOW max_parallel_workers_per_gather")) == "0"
        session.rollback()
        assert session.scalars(sql("SELECT current_setting('random_page_cost') UNION ALL "
                                   "SELECT current_setting('max_parallel_workers_per_gather')")).all() == before
        assert before != ["1.1", "0"]
