"""Uploading and deploying diagrams from the designer and the API: problems named by element,
immutable versions, XXE and entity-expansion refused, size limits."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from app.data.models import ProcessDefinition
from app.engine.definitions.lookup import latest_definition
from tests.conftest import api_token
from tests.designer.helpers import CASE_XML, LAUGHS, XXE, broken, renamed

BROKEN_ELEMENTS = {"verify", "eight_d", "set_closed", "dead_end", "bad_timer"}


def _versions(session, key: str) -> int:
    return session.scalar(select(func.count()).select_from(ProcessDefinition).where(ProcessDefinition.key == key))


def test_broken_diagram_via_web_upload_lists_problems_on_their_elements(designer, session):
    response = designer.post(
        "/designer/upload",
        data={"file": (io.BytesIO(broken().encode()), "feedback_case.bpmn"), "csrf_token": _csrf(designer)},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'data-testid="upload-problems"' in html
    for element in BROKEN_ELEMENTS:
        assert f'data-element-id="{element}"' in html, element
    assert "no_such_form" in html and "no_such_dept" in html
    assert "从此元素出发没有路径能到达结束事件" in html  # in the designer's language (Chinese)
    assert "无效的定时器表达式" in html
    assert _versions(session, "feedback_case") == 1


def test_validate_endpoint_reports_every_problem_without_storing(designer, session):
    response = designer.post("/designer/validate", json={"filename": "fc.bpmn", "xml": broken()},
                             headers={"X-CSRFToken": _csrf(designer)})
    assert response.status_code == 200
    body = response.get_json()
    assert body["ok"] is False
    by_element: dict[str, list[str]] = {}
    for problem in body["problems"]:
        by_element.setdefault(problem["element_id"], []).append(problem["message"])
    assert set(by_element) >= BROKEN_ELEMENTS
    assert any("不存在" in m for m in by_element["verify"])
    assert any("未知部门" in m for m in by_element["eight_d"])
    assert any("脚本" in m for m in by_element["set_closed"])
    assert any("到达结束事件" in m for m in by_element["dead_end"])
    assert any("无效的定时器表达式" in m for m in by_element["bad_timer"])
    good = designer.post("/designer/validate", json={"filename": "fc.bpmn", "xml": renamed()},
                         headers={"X-CSRFToken": _csrf(designer)}).get_json()
    assert good == {"ok": True, "problems": []}
    assert _versions(session, "feedback_case") == 1


def test_deploy_from_the_modeler_creates_a_new_version_once(designer, session):
    headers = {"X-CSRFToken": _csrf(designer)}
    first = designer.post("/designer/deploy", json={"filename": "feedback_case.bpmn", "xml": renamed()},
                          headers=headers)
    assert first.status_code == 201, first.get_json()
    assert [(d["key"], d["version"]) for d in first.get_json()["definitions"]] == [("feedback_case", 2)]
    again = designer.post("/designer/deploy", json={"filename": "feedback_case.bpmn", "xml": renamed()},
                          headers=headers)
    assert again.status_code == 200
    assert again.get_json()["created"] is False
    assert _versions(session, "feedback_case") == 2
    bad = designer.post("/designer/deploy", json={"filename": "fc.bpmn", "xml": broken()}, headers=headers)
    assert bad.status_code == 422
    assert {p["element_id"] for p in bad.get_json()["problems"]} >= BROKEN_ELEMENTS
    assert _versions(session, "feedback_case") == 2
    listing = designer.get("/designer/").get_data(as_text=True)
    assert 'data-key="feedback_case" data-version="2"' in listing


def test_api_upload_multipart_and_json(client, session):
    headers = api_token(client, "designer")
    response = client.post(
        "/api/v1/process-definitions", headers=headers, content_type="multipart/form-data",
        data={"file": (io.BytesIO(renamed().encode()), "feedback_case.bpmn")},
    )
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["definitions"][0]["version"] == 2
    same = client.post("/api/v1/process-definitions", headers=headers,
                       json={"filename": "feedback_case.bpmn", "xml": renamed()})
    assert same.status_code == 200
    assert same.get_json() == {**same.get_json(), "created": False}
    assert same.get_json()["definitions"][0]["version"] == 2

    listing = client.get("/api/v1/process-definitions", headers=headers).get_json()["items"]
    case = next(item for item in listing if item["key"] == "feedback_case")
    assert case["live_version"] == 2
    assert [v["version"] for v in case["versions"]] == [2, 1]
    assert [v["live"] for v in case["versions"]] == [True, False]


def test_api_upload_of_a_broken_diagram_is_422_with_problems_naming_elements(client, session):
    headers = api_token(client, "designer")
    response = client.post("/api/v1/process-definitions", headers=headers,
                           json={"filename": "fc.bpmn", "xml": broken()})
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "invalid_definition"
    assert {p["element_id"] for p in error["problems"]} >= BROKEN_ELEMENTS
    assert all(p["message"] for p in error["problems"])
    assert _versions(session, "feedback_case") == 1


def test_not_well_formed_xml_names_the_line(client):
    headers = {**api_token(client, "designer"), "Accept-Language": "en"}
    response = client.post("/api/v1/process-definitions", headers=headers,
                           json={"filename": "x.bpmn", "xml": CASE_XML.replace("</bpmn:process>", "", 1)})
    assert response.status_code == 422
    problem, = response.get_json()["error"]["problems"]
    assert "not well-formed" in problem["message"]
    assert problem["line"]


@pytest.mark.parametrize("payload", [XXE, LAUGHS, XXE.replace('name="&xxe;"', 'name="x"').replace(
    '<bpmn:startEvent id="start" />', '<bpmn:startEvent id="start"><bpmn:documentation>&xxe;</bpmn:documentation>'
    '</bpmn:startEvent>')], ids=["xxe-attribute", "billion-laughs", "xxe-text"])
def test_entity_payloads_are_refused_and_nothing_is_deployed(client, designer, session, payload):
    before = session.scalar(select(func.count()).select_from(ProcessDefinition))
    response = client.post("/api/v1/process-definitions",
                           headers={**api_token(client, "designer"), "Accept-Language": "en"},
                           json={"filename": "evil.bpmn", "xml": payload})
    assert response.status_code == 422
    messages = " ".join(p["message"] for p in response.get_json()["error"]["problems"])
    assert "DOCTYPE and entity declarations are not allowed" in messages
    assert "root:" not in response.get_data(as_text=True)  # nothing of /etc/passwd leaks
    web = designer.post("/designer/validate", json={"filename": "evil.bpmn", "xml": payload},
                        headers={"X-CSRFToken": _csrf(designer)}).get_json()
    assert web["ok"] is False and "DOCTYPE" in web["problems"][0]["message"]
    assert session.scalar(select(func.count()).select_from(ProcessDefinition)) == before
    assert latest_definition(session, "xxe_process") is None and latest_definition(session, "lol_process") is None


def test_oversized_upload_is_413_with_a_clear_message(client, designer):
    big = CASE_XML.replace("</bpmn:definitions>", "<!--" + "x" * (6 * 1024 * 1024) + "--></bpmn:definitions>")
    response = client.post("/api/v1/process-definitions", headers=api_token(client, "designer"),
                           json={"filename": "big.bpmn", "xml": big})
    assert response.status_code == 413
    assert "larger than 5 MB" in response.get_json()["error"]["message"] or "5 MB" in response.get_json()[
        "error"]["message"]
    multipart = client.post("/api/v1/process-definitions", headers=api_token(client, "designer"),
                            content_type="multipart/form-data",
                            data={"file": (io.BytesIO(big.encode()), "big.bpmn")})
    assert multipart.status_code == 413
    web = designer.post("/designer/deploy", json={"filename": "big.bpmn", "xml": big},
                        headers={"X-CSRFToken": _csrf(designer)})
    assert web.status_code == 413
    assert "5 MB" in web.get_json()["message"]


def _csrf(client) -> str:
    import re

    html = client.get("/designer/modeler").get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)
