"""Public third-party BPMN files (and a small diagram per construct of our own) through the
designer, as a new process designer would bring them: ``tests/designer/corpus``, origin, licence
and expected outcome of each file in ``manifest.json`` (see the corpus README).

For every file: validate, API upload, modeler deploy and web upload never answer 5xx; a refused
file is refused everywhere, naming the elements the manifest lists, in plain words (no reprs,
namespaces or schema jargon) and in the designer's language; a deployed file's processes are
started and driven (tasks completed with sample data, timers made due) and each ends as the
manifest says — never running with nothing that could move it and no incident.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from app.clock import clock
from app.data.db import Database
from tests.conftest import FIXTURES, _truncate, api_token, login
from tests.designer.corpus_run import LEAKS, reset_processes, run_deployed, through_the_designer

CORPUS = Path(__file__).parent / "corpus"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text(encoding="utf-8"))["files"]
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def corpus(db_url, tmp_path_factory):
    """One app for the whole corpus (seeded once; process tables emptied before each file)."""
    from app import create_app
    from app.services.setup import seed_demo
    from config import TestConfig

    database = Database(db_url)
    _truncate(database)
    with database.transaction() as session:
        seed_demo(session)

    class Cfg(TestConfig):
        DATABASE_URL = db_url
        BPMN_DIR = str(FIXTURES / "bpmn")
        FORMS_DIR = str(FIXTURES / "forms")
        UPLOAD_DIR = str(tmp_path_factory.mktemp("uploads"))

    app = create_app(Cfg)
    client = app.test_client()
    login(client, "designer")
    html = client.get("/designer/modeler").get_data(as_text=True)
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)
    headers = {**api_token(client, "designer"), "Accept-Language": "en"}
    yield app, database, client, csrf, headers
    app.extensions["database"].dispose()
    database.dispose()


def test_manifest_lists_every_file_with_its_origin():
    files = sorted(str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*.bpmn"))
    assert files == sorted(e["file"] for e in MANIFEST)
    for entry in MANIFEST:
        assert entry["expected"] in ("deploys", "refused"), entry["file"]
        assert entry["origin"] and entry["licence"], entry["file"]
    third_party = [e for e in MANIFEST if isinstance(e["origin"], dict)]
    assert len(third_party) >= 100
    assert sum((CORPUS / e["file"]).stat().st_size for e in MANIFEST) < 5 * 1024 * 1024


@pytest.mark.parametrize("entry", MANIFEST, ids=[e["file"] for e in MANIFEST])
def test_corpus_file_through_the_designer(corpus, entry):
    app, database, client, csrf, headers = corpus
    reset_processes(database)
    path = CORPUS / entry["file"]
    outcome = through_the_designer(client, csrf, headers, path.name, path.read_text(encoding="utf-8"))
    assert all(status < 500 for status in outcome.statuses.values()), outcome.statuses
    assert outcome.statuses["validate"] == 200

    if entry["expected"] == "refused":
        assert outcome.statuses == {"validate": 200, "api_upload": 422, "deploy": 422, "web_upload": 422}
        assert outcome.problems
        named = {p["element_id"] for p in outcome.problems}
        assert set(entry["elements"]) <= named, outcome.problems
        for problem in outcome.problems:
            assert problem["message"] and not LEAKS.search(problem["message"]), problem
            assert problem["element_id"] or problem["line"] or problem["file"], problem
        shown = client.post("/designer/validate", json={"filename": path.name, "xml": path.read_text("utf-8")},
                            headers={"X-CSRFToken": csrf}).get_json()
        assert shown["ok"] is False
        assert all(CJK.search(p["text"]) for p in shown["problems"]), shown["problems"]  # the designer reads Chinese
        return

    assert outcome.statuses == {"validate": 200, "api_upload": 201, "deploy": 200, "web_upload": 302}
    assert sorted(outcome.deployed) == sorted(entry["runs"])
    session = database.session()
    try:
        runs = run_deployed(app, session, outcome.deployed)
    finally:
        session.close()
        clock.reset()
    assert "stuck" not in runs.values(), runs
    assert runs == entry["runs"]
