"""GET /api/v1/cases?q=: the same full-text search and filters as the case list."""

from __future__ import annotations

from datetime import timedelta

from app.clock import clock, local_now
from tests.api.helpers import VERIFY_OK, assert_error, auth, complete, create_case, the_task


def listed(client, headers, **params) -> list[str]:
    response = client.get("/api/v1/cases", query_string=params, headers=headers)
    assert response.status_code == 200, response.get_json()
    return [case["number"] for case in response.get_json()["cases"]]


def test_api_search_finds_a_case_by_serial_number_and_measures(client):
    marketing = auth(client, "marketing")
    case = create_case(client, marketing, serial_numbers="SN-4711", description="控制柜进水后短路。")
    other = create_case(client, marketing, serial_numbers="SN-1000", product_model="ZZ-1")
    verify = the_task(client, marketing, case["id"], "verify")
    assert complete(client, marketing, verify["id"], VERIFY_OK).status_code == 200
    quality = auth(client, "quality")
    analysis = the_task(client, quality, case["id"], "analysis")
    assert complete(client, quality, analysis["id"], {"responsible_departments": ["production"]}).status_code == 200
    production = auth(client, "production")
    eight_d = the_task(client, production, case["id"], "eight_d")
    assert complete(client, production, eight_d["id"], {"root_cause": "密封圈老化"}).status_code == 200
    for query in ("SN-4711", "进水后短路", "密封圈老化", case["number"], "sn-4711 短路"):
        assert listed(client, marketing, q=query) == [case["number"]], query
    assert listed(client, marketing, q="SN-1000") == [other["number"]]
    assert listed(client, marketing, q="密封圈 SN-1000") == []
    # the filters of the case list
    assert listed(client, marketing, stage="eight_d") == []
    assert listed(client, marketing, stage="核实") == [other["number"]]
    today = local_now().date().isoformat()
    assert len(listed(client, marketing, received_from=today, received_until=today)) == 2
    assert listed(client, marketing, overdue="true") == []
    assert set(listed(client, marketing, overdue="false")) == {case["number"], other["number"]}


def test_api_case_filters_refuse_bad_values(client):
    marketing = auth(client, "marketing")
    create_case(client, marketing)
    for params in ({"received_from": "2026-02-31"}, {"received_until": "x"}, {"department": "abc"},
                   {"department": "99999999999"}, {"overdue": "maybe"}, {"q": "x" * 101}):
        assert_error(client.get("/api/v1/cases", query_string=params, headers=marketing), 400)
    clock.set(clock.now() + timedelta(days=1))
    marketing = auth(client, "marketing")  # the earlier token has expired by then
    assert listed(client, marketing, received_from=local_now().date().isoformat()) == []
    clock.reset()
