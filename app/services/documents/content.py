"""What the case's documents show, read from what the case page reads: the intake (the case's
own data), the latest submission of each form of the procedure (per department where each
department fills its own), the completed steps and the audit trail, the attachments and the
survey. Nothing here loads a workflow.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.clock import clock
from app.data.models import AuditEvent, Case, HumanTask, SurveyResponse
from app.data.queries.history import audit_events
from app.data.queries.people import DepartmentRow, departments_by_id
from app.data.queries.tasks import case_tasks
from app.engine import audit_chain
from app.errors import AppError
from app.services import attachments as stored_files
from app.services.audit_trail import changes_text
from app.services.forms import definition_by_key, definition_for_task
from app.services.public import SURVEY_LABELS, case_attachments, survey_for
from app.services.task_context import INTAKE_FORM, case_submissions

#: an attachment photo larger than this is listed but not embedded (the PDF stays printable)
MAX_EMBEDDED_BYTES = 8 * 1024 * 1024


@dataclass
class Filled:
    """One submitted form: its definition (labels in both languages), the values, and the task
    it completed (who and when), None for the intake."""

    definition: dict[str, Any]
    data: dict[str, Any]
    task: HumanTask | None = None


@dataclass
class DepartmentMeasures:
    """One responsible department's 8D report, its verification, and the corrective actions
    carried out with their verification (the latest of each)."""

    department: DepartmentRow
    report: Filled
    verification: Filled | None = None
    execution: Filled | None = None
    execution_check: Filled | None = None


@dataclass
class Step:
    """A completed step of the case: what it was, who did it when, and what they entered."""

    task: HumanTask | None
    event: AuditEvent
    filled: Filled | None


@dataclass
class Attachment:
    descriptor: dict[str, Any]
    data_uri: str | None = None  # the photo, embedded


@dataclass
class CaseForms:
    """The procedure's forms of one case, as the improvement form and the request print them."""

    intake: Filled
    verify: Filled | None = None
    preliminary: Filled | None = None
    assign: Filled | None = None
    technical: Filled | None = None
    shipments: list[Filled] = field(default_factory=list)
    departments: list[DepartmentMeasures] = field(default_factory=list)
    summary: Filled | None = None
    close: Filled | None = None


def _definition(session: Session, key: str) -> dict[str, Any]:
    try:
        return definition_by_key(session, key)
    except AppError:
        return {"key": key, "fields": []}


def _filled(session: Session, task: HumanTask, data: dict[str, Any]) -> Filled:
    try:
        definition = definition_for_task(session, task)
    except AppError:
        definition = _definition(session, task.form_key or "")
    return Filled(definition, data, task)


Submissions = dict[str, list[tuple[HumanTask, dict[str, Any]]]]
#: the forms the documents print (their latest submission, or each department's)
FORMS = ("verify_feedback", "preliminary_analysis", "assign_departments", "technical_reply", "shipment",
         "eight_d_report", "verify_8d", "execute_actions", "verify_execution", "measures_summary", "close_case",
         "answer_close")


def _latest(session: Session, found: Submissions, key: str) -> Filled | None:
    return _filled(session, *found[key][0]) if found.get(key) else None


def _per_department(session: Session, found: Submissions, key: str, *, about: bool = False) -> dict[int, Filled]:
    """The newest submission of ``key`` for each department: the department that did the task,
    or (``about``) the department whose work it verifies (diagram property ``about``)."""
    newest: dict[int, Filled] = {}
    for task, data in found.get(key, []):
        department = (task.context or {}).get("about_department_id") if about else task.department_id
        if isinstance(department, int) and department not in newest:
            newest[department] = _filled(session, task, data)
    return newest


def intake(session: Session, case: Case) -> Filled:
    return Filled(_definition(session, INTAKE_FORM), dict(case.data or {}))


def department_measures(session: Session, found: Submissions) -> list[DepartmentMeasures]:
    """Every department that wrote an 8D for the case, in the order of their first report."""
    reports = _per_department(session, found, "eight_d_report")
    verified = _per_department(session, found, "verify_8d", about=True)
    executed = _per_department(session, found, "execute_actions")
    checked = _per_department(session, found, "verify_execution", about=True)
    departments = departments_by_id(session)
    order = sorted(reports, key=lambda d: (getattr(reports[d].task, "created_at", None) or clock.now(), d))
    return [DepartmentMeasures(departments[d], reports[d], verified.get(d), executed.get(d), checked.get(d))
            for d in order if d in departments]


def case_forms(session: Session, case: Case) -> CaseForms:
    """The forms the improvement form and the request print (the latest submission of each)."""
    found = case_submissions(session, case.id, FORMS)
    return CaseForms(
        intake=intake(session, case),
        verify=_latest(session, found, "verify_feedback"),
        preliminary=_latest(session, found, "preliminary_analysis"),
        assign=_latest(session, found, "assign_departments"),
        technical=_latest(session, found, "technical_reply"),
        shipments=[_filled(session, *submitted) for submitted in reversed(found["shipment"])],
        departments=department_measures(session, found),
        summary=_latest(session, found, "measures_summary"),
        close=_latest(session, found, "close_case") or _latest(session, found, "answer_close"),
    )


def has_request(forms: CaseForms) -> bool:
    """Marketing filled a replenish / exchange / return request in the verification."""
    return forms.verify is not None and forms.verify.data.get("request_type") not in (None, "", "none")


# ---------------------------------------------------------------------------- the dossier


def steps(session: Session, case: Case, events: Sequence[AuditEvent]) -> list[Step]:
    """Each completed task of the case in the order it was done, with what was entered."""
    tasks = {t.id: t for t in case_tasks(session, case.id)}
    found = []
    for event in events:
        if event.action != "task_completed":
            continue
        task = tasks.get(event.task_id or "")
        filled = _filled(session, task, dict(event.data_after or {})) if task is not None else None
        found.append(Step(task, event, filled))
    return found


def _data_uri(upload_dir: str | Path, descriptor: dict[str, Any]) -> str | None:
    path = stored_files.path_for(upload_dir, descriptor["id"])
    if path is None or not descriptor["is_image"] or path.stat().st_size > MAX_EMBEDDED_BYTES:
        return None
    encoded = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"data:{descriptor['content_type']};base64,{encoded}"


def case_files(session: Session, case: Case, upload_dir: str | Path) -> list[Attachment]:
    """The case's attachments (as on the case page), photos embedded as data URIs."""
    return [Attachment(d, _data_uri(upload_dir, d)) for d in case_attachments(session, case)]


@dataclass
class Dossier:
    intake: Filled
    steps: list[Step]
    attachments: list[Attachment]
    survey: SurveyResponse | None
    survey_label: str | None
    events: list[dict[str, Any]]
    chain_head: tuple[int, str]


def dossier(session: Session, case: Case, upload_dir: str | Path) -> Dossier:
    """Everything about the case: its steps, files, survey and audit trail (with the chain head
    it was read at, so a reader can check the printed trail against the live chain)."""
    events = audit_events(session, case_id=case.id)
    survey = survey_for(session, case)
    trail = [{"event": e, "changes": changes_text(e.data_before, e.data_after)} for e in events]
    return Dossier(
        intake=intake(session, case), steps=steps(session, case, events),
        attachments=case_files(session, case, upload_dir), survey=survey,
        survey_label=SURVEY_LABELS.get(survey.score) if survey else None,
        events=trail, chain_head=audit_chain.current_head(session),
    )
