"""Putting one BPMN file through the designer as a new process designer would, for the corpus test:
validate, upload through the API, deploy from the modeler, upload through the web form; then
start every deployed process and drive its instance — each open task completed with sample data
of its form, each pending timer made due and fired — until it completes, becomes an incident, or
is left running without anything that could move it ("stuck", the failure the test guards)."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select, text

from app.clock import clock
from app.data.db import Base
from app.data.models import FormDefinition, HumanTask, InstanceStatus, ProcessInstance, TaskState
from app.engine.context import Actor
from app.engine.definitions.lookup import load_spec, start_message
from app.formkit.definition import sample_data

#: What a deployed diagram and its instances create: emptied between two files (the
#: organisation, API tokens and settings stay).
PROCESS_TABLES = {
    "audit_event", "feedback_case", "form_definition", "process_definition", "notification",
    "process_instance", "survey_response", "email_outbox", "human_task", "task_delegation", "task_escalation",
    "task_lateness", "public_submission", "audit_chain_head", "audit_export",
}
MAX_STEPS = 25
LEAKS = re.compile(r"0x[0-9a-f]{6,}|<Element |\{http|Traceback|xs:ID|atomic type")


@dataclass
class Outcome:
    file: str
    statuses: dict[str, int] = field(default_factory=dict)
    deployed: list[str] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)
    runs: dict[str, str] = field(default_factory=dict)


def reset_processes(database) -> None:
    """Delete every row a deployed diagram and its instances created (not the organisation).
    On PostgreSQL a trigger refuses deleting audit events row by row, so the tables are
    truncated there (as the test fixtures reset the database)."""
    tables = [t for t in reversed(Base.metadata.sorted_tables) if t.name in PROCESS_TABLES]
    with database.engine.begin() as conn:
        if database.dialect == "postgresql":
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t.name}"' for t in tables) + " CASCADE"))
            return
        for table in tables:
            conn.execute(delete(table))


def through_the_designer(client, csrf: str, api_headers: dict[str, str], name: str, xml: str) -> Outcome:
    """Validate, API upload, modeler deploy and web upload of one file; the status of each."""
    outcome = Outcome(name)
    validate = client.post("/designer/validate", json={"filename": name, "xml": xml}, headers={"X-CSRFToken": csrf})
    outcome.statuses["validate"] = validate.status_code
    api = client.post("/api/v1/process-definitions", headers=api_headers,
                      data={"file": (io.BytesIO(xml.encode("utf-8")), name)}, content_type="multipart/form-data")
    outcome.statuses["api_upload"] = api.status_code
    deploy = client.post("/designer/deploy", json={"filename": name, "xml": xml}, headers={"X-CSRFToken": csrf})
    outcome.statuses["deploy"] = deploy.status_code
    web = client.post("/designer/upload", data={"file": (io.BytesIO(xml.encode("utf-8")), name), "csrf_token": csrf},
                      content_type="multipart/form-data")
    outcome.statuses["web_upload"] = web.status_code
    if api.status_code == 422:
        outcome.problems = api.get_json()["error"]["problems"]
    elif api.status_code in (200, 201):
        outcome.deployed = [d["key"] for d in api.get_json()["definitions"]]
    if validate.status_code == 200 and not outcome.problems:
        outcome.problems = validate.get_json()["problems"]
    return outcome


def _sample(session, row: HumanTask) -> dict[str, Any]:
    form = session.get(FormDefinition, row.form_id) if row.form_id else None
    return sample_data(form.content) if form is not None else {}


def drive(app, session, instance_id: int) -> str:
    """Run an instance to its end: "completed", "incident", "running" (still moving after
    MAX_STEPS, e.g. a repeating timer) or "stuck" (running with nothing that could move it)."""
    runtime = app.extensions["runtime"]
    for _step in range(MAX_STEPS):
        session.expire_all()
        instance = session.get(ProcessInstance, instance_id)
        if instance.status != InstanceStatus.RUNNING:
            return str(instance.status)
        row = session.scalars(
            select(HumanTask).where(HumanTask.instance_id == instance_id, HumanTask.state == TaskState.OPEN)
            .order_by(HumanTask.created_at, HumanTask.id)
        ).first()
        if row is not None:
            runtime.complete_task(session, row.id, _sample(session, row), Actor.system("corpus"))
        elif instance.next_due_at is not None:
            if instance.next_due_at > clock.now():
                clock.set(instance.next_due_at + timedelta(seconds=1))
            runtime.fire_timers(session, instance_id)
        else:
            return "stuck"
        session.commit()
    return "running"


def run_deployed(app, session, keys: list[str]) -> dict[str, str]:
    """Start each deployed process that can be started by hand and drive it."""
    from app.engine.definitions.lookup import latest_definition

    runs: dict[str, str] = {}
    runtime = app.extensions["runtime"]
    for key in keys:
        definition = latest_definition(session, key)
        if start_message(load_spec(session, definition).spec) is not None:
            runs[key] = "message-start"
            continue
        try:
            instance = runtime.start(session, key, {}, Actor.system("corpus"), definition=definition)
            session.commit()
            runs[key] = drive(app, session, instance.id)
        finally:
            session.rollback()
            clock.reset()
    return runs
