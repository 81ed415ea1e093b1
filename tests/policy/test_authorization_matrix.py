"""The authorization matrix: every web and API endpoint of ``app.url_map`` × every demo user
(staff and head of each department, manager, designer, auditor, admin) and anonymous, against
one table of expected outcomes (:data:`EXPECTED`). An endpoint without a row fails the suite.

Requests carry no form data (web POSTs only their CSRF token): an unauthorized caller must be
refused (403, 401, or a redirect to the sign-in page) before any input is validated; a permitted
one gets anything else but a server error — typically a 422 or a flashed message. Path variables
come from one small world built once for the module: tasks of the production diagrams in known
states, an approval item that only the head of Quality may decide, a weekly assessment, a file.
Mutations a permitted POST makes (claim, release, recall, deleting one's own filter…) are undone
before the next request, so every outcome is independent of the order.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from app.clock import clock
from app.data.db import Database
from app.data.models import (
    Case,
    HumanTask,
    ProcessDefinition,
    ProcessInstance,
    SavedFilter,
    Substitution,
    TaskDelegation,
    User,
)
from app.services import attachments, audit_trail
from app.services import inbox as inbox_service
from app.services.accounts import save_user
from app.services.audit_trail import AuditFilter
from tests.approvals.test_approvals import assessment_at_sign_quality
from tests.conftest import FIXTURES, ROOT, _truncate
from tests.process_http.conftest import T0, Flow
from tests.process_http.payloads import intake

DEPARTMENTS = ("marketing", "quality", "technical", "production", "purchasing", "warehouse", "finance")
STAFF = frozenset(DEPARTMENTS)
HEADS = frozenset(f"{d}_head" for d in DEPARTMENTS)
USERS = (*(u for d in DEPARTMENTS for u in (d, f"{d}_head")), "manager", "designer", "auditor", "admin")
ANONYMOUS = None
EVERYONE = frozenset(USERS)
OVERSEERS = frozenset({"manager", "auditor", "admin"})


@dataclass(frozen=True)
class Rule:
    """Who gets through (``ok``); what everyone else and anonymous callers get."""

    ok: frozenset[str]
    other: str = "forbidden"
    anonymous: str = "login"

    def expected(self, user: str | None) -> str:
        if user is ANONYMOUS:
            return "ok" if self.anonymous == "ok" else self.anonymous
        return "ok" if user in self.ok else self.other


def only(*users: str) -> Rule:
    return Rule(frozenset(users))


PUBLIC = Rule(EVERYONE, anonymous="ok")
SIGNED_IN = Rule(EVERYONE)
SIGNS_OUT = Rule(frozenset(), other="login", anonymous="login")  # always back to the sign-in page
ADMIN = only("admin")
DESIGNERS = only("designer", "admin")
INSTANCE_VIEWERS = only("designer", *OVERSEERS)
CASE_OPENERS = only("marketing", "marketing_head", "admin")
#: every member of a department, and the readers of every case
CASE_LIST = Rule(STAFF | HEADS | {"manager", "auditor", "admin"})
#: case A has a task of Marketing only; Marketing, Quality (and its quality engineer) and overseers read every case
CASE_A = only("marketing", "marketing_head", "quality", "quality_head", *OVERSEERS)
#: the Marketing task (open, held, or delegated): seen by Marketing and the overseers
MARKETING_TASK = only("marketing", "marketing_head", *OVERSEERS)
MARKETING_MEMBERS = only("marketing", "marketing_head")
#: the head of Quality's sign-off: seen by Quality and the overseers, done by the head only
SIGN_OFF_VIEW = only("quality", "quality_head", *OVERSEERS)
HEAD_OF_QUALITY = only("quality_head")
APPROVERS = only("quality", "quality_head", *OVERSEERS)  # Quality decides the only kind of item there is
ALL_ASSESSMENTS = only("quality", "quality_head", "finance", "finance_head", *OVERSEERS)
ASSESSMENT_LIST = Rule(ALL_ASSESSMENTS.ok | HEADS)
ASSESSMENT_SHOW = Rule(ALL_ASSESSMENTS.ok | {"production_head"})  # the assessment concerns Production only
MARKETINGS_OWN = Rule(frozenset({"marketing"}), other="missing")  # another user's row is not found
#: the weekly assessment's start event: manualStart="head:quality,admin"
STARTS_ASSESSMENTS = only("quality_head", "admin")
AUDIT_READERS = only("auditor", "admin")  # the whole audit trail, read-only
#: the analysis dashboard and reports: the General Manager, Quality, admins, and every head (own department)
ANALYTICS = Rule(frozenset({"quality", "quality_head", "manager", "admin"}) | HEADS)
#: an export's progress over the API: its requester (the auditor) and every reader of the whole trail
AUDIT_EXPORT = Rule(AUDIT_READERS.ok, other="missing")
#: alerts on repeated problems: Quality handles them (the quality user is also a quality engineer),
#: the overseers read them
ALERT_HANDLERS = only("quality", "quality_head")
ALERT_READERS = only("quality", "quality_head", *OVERSEERS)

#: endpoint → rule (for every method), or {method: rule}
EXPECTED: dict[str, Rule | dict[str, Rule]] = {
    "static": PUBLIC,
    "main.index": SIGNED_IN,
    "main.set_language": PUBLIC,
    "auth.login": PUBLIC,
    "auth.logout": SIGNS_OUT,
    "public.feedback": PUBLIC,
    "public.received": PUBLIC,
    "public.status": PUBLIC,
    "public.survey": PUBLIC,
    "public.files.download": CASE_A,
    "inbox.index": SIGNED_IN,
    "inbox.bulk": SIGNED_IN,
    "inbox.save_filter": SIGNED_IN,
    "inbox.delete_filter": MARKETINGS_OWN,
    "inbox.substitutes": SIGNED_IN,
    "inbox.end_substitution": MARKETINGS_OWN,
    "inbox.claim": MARKETING_MEMBERS,
    "inbox.release": MARKETING_MEMBERS,  # the holder and the head
    "inbox.assign": only("marketing_head"),
    "inbox.delegate": only("marketing"),  # the holder
    "inbox.recall": only("marketing_head"),  # the delegator
    "inbox.work": MARKETING_TASK,  # the delegate works there; other viewers are sent to the task page
    "tasks.show": SIGN_OFF_VIEW,
    "tasks.complete": HEAD_OF_QUALITY,
    "tasks.save_draft": HEAD_OF_QUALITY,  # a draft: whoever may complete the task
    "comments.add": CASE_A,  # comments: whoever may see the case
    "cases.index": CASE_LIST,
    "cases.export": CASE_LIST,
    "cases.new_case": CASE_OPENERS,
    "cases.show": CASE_A,
    "documents.download": CASE_A,
    "approvals.index": APPROVERS,
    "approvals.bulk": APPROVERS,
    "approvals.decide": HEAD_OF_QUALITY,
    "assessment.index": ASSESSMENT_LIST,
    "assessment.show": ASSESSMENT_SHOW,
    "assessment.export": ALL_ASSESSMENTS,
    "assessment.start": STARTS_ASSESSMENTS,
    "notifications.index": SIGNED_IN,
    "notifications.read": SIGNED_IN,
    "notifications.open_one": MARKETINGS_OWN,  # opening another user's notification: not found
    "notifications.read_all": SIGNED_IN,
    "notifications.settings": SIGNED_IN,
    "admin.index": ADMIN,
    "admin.users": ADMIN,
    "admin.new_user": ADMIN,
    "admin.edit_user": ADMIN,
    "admin.unlock_user": ADMIN,
    "admin.sign_out_user": ADMIN,  # asked about a spare user, so the matrix's own sessions live on
    "admin.departments_list": ADMIN,
    "admin.incidents": ADMIN,
    "calendar_admin.index": ADMIN,
    "calendar_admin.add": ADMIN,
    "calendar_admin.remove": ADMIN,
    "calendar_admin.confirm": ADMIN,
    "calendar_admin.withdraw": ADMIN,
    "admin.settings_page": ADMIN,
    "admin.retention_page": ADMIN,
    "admin.apply_retention": ADMIN,
    "admin.alert_rules_page": ADMIN,
    "alerts.index": ALERT_READERS,
    "alerts.show": ALERT_READERS,
    "alerts.acknowledge": {"POST": ALERT_HANDLERS},
    "alerts.link": {"POST": ALERT_HANDLERS},
    "audit.index": AUDIT_READERS,
    "audit.start_export": AUDIT_READERS,
    "audit.export_page": AUDIT_READERS,
    "audit.export_progress": AUDIT_READERS,
    "audit.export_download": AUDIT_READERS,
    "audit.chain": AUDIT_READERS,
    "designer.index": DESIGNERS,
    "designer.upload": DESIGNERS,
    "designer.new_diagram": DESIGNERS,
    "designer.modeler": DESIGNERS,
    "designer.download": DESIGNERS,
    "designer.validate": DESIGNERS,
    "designer.deploy_json": DESIGNERS,
    "designer.diff": DESIGNERS,
    "designer.migrate": DESIGNERS,
    "designer.new_form": DESIGNERS,
    "designer.form_editor": DESIGNERS,
    "designer.form_preview": DESIGNERS,
    "designer.save_form": DESIGNERS,
    "designer.instance": INSTANCE_VIEWERS,
    "designer.test_run_start": DESIGNERS,
    "designer.test_run_complete": DESIGNERS,
    "designer.test_run_timers": DESIGNERS,
    "api.health": PUBLIC,
    "api.openapi_json": PUBLIC,
    "api.issue_token": PUBLIC,
    "api.list_tasks": SIGNED_IN,
    "api.get_task": MARKETING_TASK,
    "api.claim_task": HEAD_OF_QUALITY,  # the sign-off: only its performer may take it
    "api.unclaim_task": MARKETING_MEMBERS,
    "api.complete_task": HEAD_OF_QUALITY,
    "api.create_case": CASE_OPENERS,
    "api.list_cases": CASE_LIST,
    "api.get_case": CASE_A,
    "api.list_comments": CASE_A,
    "api.add_comment": CASE_A,
    "api.case_documents_list": CASE_A,
    "api.case_document": CASE_A,
    "api.audit_trail": CASE_A,
    "api.audit_events": AUDIT_READERS,
    "api.audit_export_progress": AUDIT_EXPORT,
    "api.list_definitions": DESIGNERS,
    "api.upload_definition": DESIGNERS,
    "api.start_instance": STARTS_ASSESSMENTS,  # asked about weekly_assessment (KEY_OF); its diagram decides
    "api.start_assessment": STARTS_ASSESSMENTS,
    "api.get_instance": INSTANCE_VIEWERS,
    "dashboard.index": ANALYTICS,
    "dashboard.data": ANALYTICS,
    "dashboard.download": ANALYTICS,
    "dashboard.cases": ANALYTICS,
    "reports.management": ANALYTICS,  # QUERY: a clear 400 for those who may
    "reports.management_pdf": ANALYTICS,  # without a chart: a clear 400 for those who may
    "api.get_report": ANALYTICS,
    "api.list_alerts": ALERT_READERS,
}

#: which task each task endpoint is asked about (default: the open Marketing task)
TASK_OF = {
    "inbox.release": "held", "api.unclaim_task": "held", "inbox.delegate": "held",
    "inbox.recall": "delegated", "inbox.work": "delegated",
    "tasks.show": "sign", "tasks.complete": "sign", "tasks.save_draft": "sign",
    "approvals.decide": "sign", "api.claim_task": "sign", "api.complete_task": "sign",
}
#: asked with input a permitted caller gets a clear 400 for, so that nothing is rendered (PDFs take a while)
QUERY = {"api.audit_trail": "?case={case_id}", "reports.management": "?period=decade",
         "reports.management_pdf": "?period=decade", "documents.download": "?lang=xx", "api.case_document": "?lang=xx"}
#: which key each endpoint with a <key> is asked about (default: a form key, for the form editor)
KEY_OF = {"api.start_instance": "weekly_assessment"}
CONVERTER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


# ---------------------------------------------------------------------------- the world


@dataclass
class World:
    flow: Flow
    params: dict[str, Any]
    tasks: dict[str, str]
    snapshot: list[tuple[type, Any, dict[str, Any]]]
    csrf: dict[str | None, str]
    anonymous: Any
    dirty: bool = False  # a permitted POST may have changed the world since the last restore


def _row_state(row: Any) -> dict[str, Any]:
    return {c.key: getattr(row, c.key) for c in row.__table__.columns}


@pytest.fixture(scope="module")
def world(db_url, tmp_path_factory):
    """One app and one set of data for every request of the matrix."""
    from app import create_app
    from app.services.setup import deploy_folder, seed_demo
    from config import TestConfig

    database = Database(db_url)
    _truncate(database)
    uploads = tmp_path_factory.mktemp("uploads")

    class Cfg(TestConfig):
        DATABASE_URL = database.url
        BPMN_DIR = str(FIXTURES / "bpmn")
        FORMS_DIR = str(FIXTURES / "forms")
        UPLOAD_DIR = str(uploads)

    app = create_app(Cfg)
    with database.transaction() as session:
        seed_demo(session)
        deploy_folder(session, ROOT / "bpmn", ROOT / "forms")
    clock.set(T0)
    flow = Flow(app)
    cases = [flow.open_case(**intake(customer_name=f"矩阵客户{n}")) for n in "ABC"]
    task = {name: flow.find("marketing", "verify", case_id)["id"] for name, case_id in zip(
        ("open", "held", "delegated"), cases, strict=True)}
    for username, name in (("marketing", "held"), ("marketing_head", "delegated")):
        claimed = flow.client(username).post(f"/api/v1/tasks/{task[name]}/claim", headers=flow.headers(username))
        assert claimed.status_code == 200
    assessment = assessment_at_sign_quality(flow)
    with database.transaction() as s:
        user = {u.username: u for u in s.scalars(select(User))}
        delegation = inbox_service.delegate(s, user["marketing_head"], task["delegated"], user["marketing"].id)
        saved = inbox_service.save_filter(s, user["marketing"], "mine", "tab=mine")
        away = inbox_service.name_substitute(s, user["marketing"], user["marketing_head"].id, date(2026, 4, 1),
                                             date(2026, 4, 2))
        task["sign"] = s.scalars(select(HumanTask.id).where(HumanTask.instance_id == assessment,
                                                            HumanTask.element_id == "sign_quality")).one()
        export = audit_trail.start_export(s, user["auditor"], AuditFilter(action="login"), "csv")
        photo = attachments.store(uploads, FileStorage(io.BytesIO(b"\x89PNG matrix"), filename="photo.png",
                                                       content_type="image/png"))
        case_a = s.get(Case, cases[0])
        case_a.data = {**case_a.data, "photos": [photo]}
        params = {
            "case_id": cases[0], "instance_id": s.scalar(select(ProcessInstance.id).where(
                ProcessInstance.case_id == cases[0]).order_by(ProcessInstance.id).limit(1)),
            "definition_id": s.scalar(select(ProcessDefinition.id).where(ProcessDefinition.key == "feedback_case")
                                      .order_by(ProcessDefinition.version.desc()).limit(1)),
            "user_id": user["marketing"].id, "filter_id": saved.id, "export_id": export.id, "substitution_id": away.id,
            "notification_id": 1, "token": case_a.public_token, "file_id": photo["id"], "key": "verify_feedback",
            "day": "2026-03-09", "year": 2027, "code": "zh", "filename": "css/app.css", "rest": "nothing-here",
            "doc": "improvement",
            "metric": "volumes",
        }
        params["alert_id"] = 1  # the matrix cases repeat one serial number: an alert
        params["instance_id:assessment"] = assessment
        params["user_id:spare"] = save_user(s, "spare", "spare", password="demo").id
        s.flush()
        snapshot = [(model, key, _row_state(s.get(model, key))) for model, key in (
            *((HumanTask, t) for t in task.values()), (TaskDelegation, delegation.id), (SavedFilter, saved.id),
            (Substitution, away.id))]
    csrf = {}
    for username in USERS:
        csrf[username] = _csrf(flow.client(username).get("/inbox/"))
        flow.headers(username)
    anonymous = app.test_client()
    csrf[ANONYMOUS] = _csrf(anonymous.get("/auth/login"))
    yield World(flow, params, task, snapshot, csrf, anonymous)
    clock.reset()
    app.extensions["database"].dispose()
    database.dispose()


def _csrf(response) -> str:
    return re.search(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"', response.get_data(as_text=True)).group(1)


def _restore(world: World) -> None:
    """Undo what a permitted POST changed (claims, releases, a recall, deleted rows)."""
    with world.flow.database.transaction() as s:
        for model, key, values in world.snapshot:
            row = s.get(model, key)
            if row is None:
                s.add(model(**values))
            else:
                for name, value in values.items():
                    setattr(row, name, value)


# ---------------------------------------------------------------------------- requests


def _rules(app) -> list:
    return sorted(app.url_map.iter_rules(), key=lambda r: (r.endpoint == "auth.logout", r.endpoint, r.rule))


def _url(world: World, rule) -> str:
    values = dict(world.params)
    values["task_id"] = world.tasks[TASK_OF.get(rule.endpoint, "open")]
    values["key"] = KEY_OF.get(rule.endpoint, values["key"])
    if rule.endpoint in ("assessment.show", "assessment.export"):
        values["instance_id"] = values["instance_id:assessment"]
    if rule.endpoint == "admin.sign_out_user":
        values["user_id"] = values["user_id:spare"]
    path = CONVERTER.sub(lambda m: str(values[m.group(1)]), rule.rule)
    return path + QUERY.get(rule.endpoint, "").format(**values)


def _outcome(response) -> str:
    status = response.status_code
    if status == 401 or (status in (301, 302, 303, 307, 308) and "/auth/login" in response.headers.get("Location", "")):
        return "login"
    if status == 403:
        return "forbidden"
    if status == 404:
        return "missing"
    return "error" if status >= 500 else "ok"


def _request(world: World, rule, method: str, user: str | None):
    api = rule.rule.startswith("/api/")
    client = world.anonymous if user is ANONYMOUS else world.flow.client(user)
    headers = world.flow.headers(user) if api and user is not ANONYMOUS else {}
    url = _url(world, rule)
    if method == "GET":
        return client.get(url, headers=headers)
    if world.dirty:
        _restore(world)
    if api:
        response = client.open(url, method=method, headers=headers)
    else:
        response = client.open(url, method=method, data={"csrf_token": world.csrf[user]})
    world.dirty = _outcome(response) == "ok"  # a refused request changed nothing
    return response


def _expected(endpoint: str, method: str) -> Rule:
    rule = EXPECTED[endpoint]
    return rule[method] if isinstance(rule, dict) else rule


def test_every_endpoint_has_a_row(world):
    endpoints = {rule.endpoint for rule in world.flow.app.url_map.iter_rules()}
    missing = sorted(endpoints - set(EXPECTED))
    assert not missing, f"endpoints without a row in the authorization matrix (tests/policy): {missing}"
    stale = sorted(set(EXPECTED) - endpoints)
    assert not stale, f"rows of the authorization matrix for endpoints that no longer exist: {stale}"
    for endpoint, rule in EXPECTED.items():
        if isinstance(rule, dict):
            methods = {m for r in world.flow.app.url_map.iter_rules(endpoint) for m in r.methods} - {"HEAD", "OPTIONS"}
            assert methods == set(rule), f"{endpoint}: a rule for each of {sorted(methods)}"


def test_every_endpoint_answers_every_user_as_the_table_says(world):
    wrong = []
    for rule in _rules(world.flow.app):
        if rule.endpoint not in EXPECTED:
            continue  # reported by test_every_endpoint_has_a_row
        methods = sorted(rule.methods - {"HEAD", "OPTIONS"})
        for method in methods:
            expected = _expected(rule.endpoint, method)
            for user in (*USERS, ANONYMOUS):
                response = _request(world, rule, method, user)
                got = _outcome(response)
                if got != expected.expected(user):
                    wrong.append(f"{method} {rule.rule} as {user or 'anonymous'}: {response.status_code} ({got}), "
                                 f"expected {expected.expected(user)}")
    assert not wrong, "\n".join(wrong)
