"""Property-based tests over every form in forms/: any input gives either a validation error or
a stored value that reads back equal — never an exception (which the channels would turn into
a 5xx).

For each form, hypothesis builds JSON submissions field by field from a mix of plausible values
(choices, bounds, dates, rows of groups) and hostile ones (wrong types, huge or odd text, nested
structures, unknown keys). The property: :func:`app.formkit.build.validate` returns; a valid
submission's data survives the JSON round trip of task data unchanged and validates again to the
same data (what is stored is what a later reader and a re-submission see). Bounded and
deterministic: ``derandomize`` and a fixed number of examples per form.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.engine import codec
from app.formkit.build import StaticChoices, bind_data, data_keys, validate
from app.formkit.definition import CHOICE_TYPES, load_forms, sample_value

ROOT = Path(__file__).resolve().parents[2]
FORMS = load_forms(ROOT / "forms")
EXAMPLES = int(os.environ.get("FORM_FUZZ_EXAMPLES", "30"))
CHOICES = StaticChoices(users=[("1", "甲"), ("2", "乙")],
                        departments=[("quality", "质量部"), ("production", "生产部"), ("marketing", "营销部")])
FUZZ = settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

#: values of the wrong kind for any field
HOSTILE = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10 ** 30), max_value=10 ** 30),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40),
    st.sampled_from(["", " ", "\x00", "NaN", "inf", "-0", "1e999", "9" * 400, "<script>x</script>",
                     "2026-02-30", "2026-13-01T25:00", "１２３", "true", "Y", "☃" * 3000]),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def _plausible(spec: dict[str, Any]) -> st.SearchStrategy[Any]:
    ftype = spec["type"]
    sample = sample_value(spec)
    if ftype in ("text", "textarea", "email"):
        limit = int(spec.get("max_length") or 60)
        return st.one_of(st.just(sample), st.text(max_size=min(limit + 5, 80)),
                         st.emails() if ftype == "email" else st.text(min_size=1, max_size=10))
    if ftype in ("integer", "number", "money"):
        low, high = spec.get("min"), spec.get("max")
        base = st.integers(min_value=-5, max_value=10 ** 7) if ftype == "integer" else \
            st.decimals(min_value=-5, max_value=10 ** 7, places=2, allow_nan=False).map(float)
        bounds = [v for v in (low, high) if isinstance(v, int | float)]
        return st.one_of(st.just(sample), base, st.sampled_from(bounds or [0]))
    if ftype == "date":
        return st.dates().map(lambda d: d.isoformat())
    if ftype == "datetime":
        return st.datetimes().map(lambda d: d.isoformat(timespec="minutes"))
    if ftype == "boolean":
        return st.booleans()
    if ftype in CHOICE_TYPES:
        values = [c.get("value") for c in spec.get("choices") or []] or ["x"]
        return st.lists(st.sampled_from(values), max_size=len(values), unique=True) \
            if ftype == "multiselect" else st.sampled_from(values)
    if ftype == "department":
        return st.sampled_from(["quality", "production", "nope"])
    if ftype == "user":
        return st.sampled_from(["1", "2", "999"])
    if ftype == "group":
        row = st.fixed_dictionaries({}, optional={sub["name"]: _value(sub) for sub in spec["fields"]})
        return st.lists(row, max_size=3)
    return st.none()  # files: not sent as JSON


def _value(spec: dict[str, Any]) -> st.SearchStrategy[Any]:
    return st.one_of(_plausible(spec), _plausible(spec), HOSTILE)


def submissions(definition: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    fields = {spec["name"]: _value(spec) for spec in definition["fields"] if spec["type"] not in ("file", "files")}
    known = st.fixed_dictionaries({}, optional=fields)
    sample = {spec["name"]: sample_value(spec) for spec in definition["fields"]
              if spec["type"] not in ("file", "files") and sample_value(spec) is not None}
    extra = st.dictionaries(st.text(min_size=1, max_size=8), HOSTILE, max_size=1)
    # mostly the sample with some fields replaced (to reach valid submissions), sometimes anything
    mutated = known.map(lambda changes: {**sample, **changes})
    return st.one_of(mutated, mutated, known, st.tuples(mutated, extra).map(lambda t: {**t[1], **t[0]}))


def _read_back(data: dict[str, Any]) -> dict[str, Any]:
    """Task data as stored (JSON in the instance state and the audit event) and read again."""
    return json.loads(json.dumps(codec.jsonable(data)))


@pytest.mark.skipif(os.environ.get("TEST_DB", "sqlite") == "postgres",
                    reason="no database involved: runs once, in the SQLite pass")
@pytest.mark.parametrize("key", sorted(FORMS))
def test_any_submission_is_refused_or_stored_and_read_back_equal(key):
    definition = FORMS[key]
    if data_keys(definition):  # a sum rule reads the task's data: give it a total
        definition = bind_data(definition, {k: 100 for k in data_keys(definition)})
    seen = {"valid": 0, "invalid": 0}

    @FUZZ
    @given(submission=submissions(definition), locale=st.sampled_from(["zh", "en"]))
    def check(submission: dict[str, Any], locale: str) -> None:
        outcome = validate(definition, locale, CHOICES, data=submission)
        if not outcome.ok:
            assert outcome.data == {} and all(isinstance(m, str) and m for ms in outcome.errors.values() for m in ms)
            seen["invalid"] += 1
            return
        seen["valid"] += 1
        stored = _read_back(outcome.data)
        assert stored == outcome.data, "the stored value reads back different"
        again = validate(definition, locale, CHOICES, data=stored)
        assert again.ok, again.errors
        assert again.data == outcome.data, "re-submitting what was stored changes it"

    check()
    FUZZ_FIGURES[key] = dict(seen)
    assert seen["invalid"] > 0, "the generator never produced an invalid submission"


FUZZ_FIGURES: dict[str, dict[str, int]] = {}



# ------------------------------------------------------------------ through the API and the web page

SAMPLE = ("verify_feedback", "eight_d_report", "onsite_visit")
CHANNEL_FUZZ = settings(FUZZ, max_examples=int(os.environ.get("FORM_FUZZ_CHANNEL_EXAMPLES", "10")))


@pytest.fixture
def sample_tasks(app, database):
    """One-task processes (department marketing) for the sample forms; ``start(key)`` opens a task."""
    from app.engine.context import Actor
    from app.engine.definitions.deploy import deploy
    from app.services.setup import known_department_names
    from tests.engine import one_task_process

    with database.transaction() as session:
        for key in SAMPLE:
            deploy(session, {f"fuzz_{key}.bpmn": one_task_process(f"fuzz_{key}", "marketing", key)},
                   {key: FORMS[key]}, known_departments=known_department_names(session))
    runtime = app.extensions["runtime"]

    def start(key: str) -> str:
        from app.data.models import HumanTask

        with database.transaction() as session:
            instance = runtime.start(session, f"fuzz_{key}", {}, Actor.system())
            return session.query(HumanTask.id).filter(HumanTask.instance_id == instance.id).scalar()

    return start


def _completed_event(database, task_id: str):
    from sqlalchemy import select

    from app.data.models import AuditEvent

    with database.session() as session:
        return session.scalars(select(AuditEvent).where(AuditEvent.task_id == task_id,
                                                        AuditEvent.action == "task_completed")).all()


def _stored_reads_back(database, key: str, after: dict[str, Any]) -> None:
    from app.services.choices import DatabaseChoices

    with database.session() as session:
        again = validate(FORMS[key], "en", DatabaseChoices(session), data=after)
    assert again.ok and again.data == after, (again.errors, after)


@pytest.mark.parametrize("key", SAMPLE)
def test_api_completion_of_any_submission_is_a_422_or_stored_never_a_5xx(client, database, sample_tasks, key):
    from tests.conftest import api_token

    headers = {**api_token(client, "marketing"), "Accept-Language": "en"}
    state = {"task": sample_tasks(key), "statuses": []}

    @CHANNEL_FUZZ
    @given(submission=submissions(FORMS[key]))
    def check(submission: dict[str, Any]) -> None:
        answer = client.post(f"/api/v1/tasks/{state['task']}/complete", json={"data": submission}, headers=headers)
        state["statuses"].append(answer.status_code)
        assert answer.status_code < 500, answer.get_data(as_text=True)[:300]
        events = _completed_event(database, state["task"])
        if answer.status_code == 200:
            [event] = events
            _stored_reads_back(database, key, event.data_after)
            state["task"] = sample_tasks(key)
        else:
            assert answer.status_code in (400, 422) and answer.get_json()["error"]["message"], answer.get_json()
            assert events == []

    check()
    assert 422 in state["statuses"]


def test_web_completion_of_any_submission_is_refused_or_stored_never_a_5xx(app, database, sample_tasks):
    from app.formkit.build import to_formdata
    from tests.web.helpers import form_tokens, user_client

    key = "verify_feedback"
    web = user_client(app, "marketing")
    state = {"task": sample_tasks(key)}

    @CHANNEL_FUZZ
    @given(submission=submissions(FORMS[key]))
    def check(submission: dict[str, Any]) -> None:
        page = web.get(f"/tasks/{state['task']}")
        assert page.status_code == 200
        posted = to_formdata(FORMS[key], submission)
        answer = web.post(f"/tasks/{state['task']}", data={**posted.to_dict(flat=False),
                                                          **form_tokens(page.get_data(as_text=True))})
        assert answer.status_code < 500, answer.get_data(as_text=True)[:300]
        events = _completed_event(database, state["task"])
        if events:
            assert answer.status_code in (302, 303)
            _stored_reads_back(database, key, events[0].data_after)
            state["task"] = sample_tasks(key)
        else:
            assert answer.status_code in (200, 422), answer.status_code  # the page again, with its errors

    check()
