"""A diagram whose process id is the key of an unrelated deployed process needs confirmation
(API ``?confirm=true``, the modeler's ``confirm``, the upload form's box) instead of silently
becoming that process's next version; an edited version of the same diagram does not."""

from __future__ import annotations

import io
import re

from sqlalchemy import func, select

from app.data.models import ProcessDefinition
from app.engine.definitions.collisions import share
from tests.conftest import api_token
from tests.designer.helpers import CASE_XML, renamed
from tests.designer.test_corpus import CORPUS

#: A public diagram whose process id is the fixture's ``feedback_case`` key, content unrelated.
UNRELATED = (CORPUS / "own" / "link_events.bpmn").read_text("utf-8").replace("own_link_events", "feedback_case")


def _versions(session) -> int:
    return session.scalar(select(func.count()).select_from(ProcessDefinition)
                          .where(ProcessDefinition.key == "feedback_case"))


def _csrf(client) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"',
                     client.get("/designer/modeler").get_data(as_text=True)).group(1)


def test_share_of_element_ids():
    assert share({"a", "b"}, {"a", "b"}) == 1.0
    assert share({"a", "b", "c"}, {"a", "x", "y"}) == 0.2


def test_api_upload_of_an_unrelated_diagram_with_a_taken_key_needs_confirm(client, session):
    headers = {**api_token(client, "designer"), "Accept-Language": "en"}
    response = client.post("/api/v1/process-definitions", headers=headers,
                           json={"filename": "other.bpmn", "xml": UNRELATED})
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "confirmation_required" and "confirm=true" in error["hint"]
    # only "start" and "end" in common
    assert error["processes"] == [{"key": "feedback_case", "live_version": 1, "shared_elements": 0.14}]
    assert _versions(session) == 1
    confirmed = client.post("/api/v1/process-definitions?confirm=true", headers=headers,
                            json={"filename": "other.bpmn", "xml": UNRELATED})
    assert confirmed.status_code == 201
    assert _versions(session) == 2


def test_an_edited_version_of_the_same_diagram_needs_no_confirmation(client, session):
    headers = api_token(client, "designer")
    response = client.post("/api/v1/process-definitions", headers=headers,
                           json={"filename": "feedback_case.bpmn", "xml": renamed(CASE_XML)})
    assert response.status_code == 201
    assert _versions(session) == 2


def test_modeler_deploy_asks_then_deploys_when_confirmed(designer, session):
    headers = {"X-CSRFToken": _csrf(designer)}
    asked = designer.post("/designer/deploy", json={"filename": "o.bpmn", "xml": UNRELATED}, headers=headers)
    assert asked.status_code == 409
    body = asked.get_json()
    assert body["confirm"] is True and "feedback_case" in str(body["processes"])
    assert "无关" in body["message"]  # the designer's language
    assert _versions(session) == 1
    done = designer.post("/designer/deploy", json={"filename": "o.bpmn", "xml": UNRELATED, "confirm": True},
                         headers=headers)
    assert done.status_code == 201
    assert _versions(session) == 2


def test_web_upload_shows_the_question_and_deploys_with_the_box_ticked(designer, session):
    page = designer.get("/designer/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    asked = designer.post("/designer/upload", data={"file": (io.BytesIO(UNRELATED.encode()), "o.bpmn"),
                                                    "csrf_token": token}, content_type="multipart/form-data")
    assert asked.status_code == 409
    html = asked.get_data(as_text=True)
    assert 'data-testid="upload-confirm"' in html and 'data-testid="upload-confirm-box"' in html
    assert _versions(session) == 1
    done = designer.post("/designer/upload", data={"file": (io.BytesIO(UNRELATED.encode()), "o.bpmn"),
                                                   "csrf_token": token, "confirm": "y"},
                         content_type="multipart/form-data")
    assert done.status_code == 302
    assert _versions(session) == 2
