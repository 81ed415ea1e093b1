"""Tasks: the caller's open tasks, one task with its form, claim/unclaim and completion."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from flask import current_app, jsonify, request
from flask_babel import gettext as _
from sqlalchemy import bindparam, select

from app.api import bp
from app.api.auth import (
    api_locale,
    api_user,
    endpoint,
    iso,
    json_body,
    multipart_body,
    page_args,
    valid_task_id,
    validation_error,
)
from app.api.errors import ApiError
from app.data.models import Department, HumanTask, TaskState, User
from app.data.queries.inbox import TASK_SCOPES, open_tasks
from app.data.queries.people import departments_by_id, usernames
from app.engine.errors import NotFound
from app.extensions import db, file_store, runtime
from app.formkit.uploads import DEFAULT_MAX_FILE_BYTES
from app.i18n import N_
from app.services import completion, policy
from app.services import forms as form_service
from app.services import tasks as task_service
from app.services.completion import Submission

DEFAULT_LIMIT = 200


def _file_limit() -> int:
    """The size limit per file where a field states none (as on the web forms)."""
    return int(current_app.config.get("UPLOAD_MAX_FILE_BYTES") or DEFAULT_MAX_FILE_BYTES)
MAX_LIMIT = 500
MAX_SUBMIT_TOKEN = 64


def task_title(task: HumanTask, locale: str) -> str:
    return task.title_en if locale == "en" and task.title_en else task.title


def task_items(tasks: Iterable[HumanTask], locale: str) -> list[dict[str, Any]]:
    """The API shape of tasks (department codes and usernames looked up once)."""
    tasks = list(tasks)
    departments = departments_by_id(db.session) if tasks else {}
    users = usernames(db.session, {t.assignee_id for t in tasks if t.assignee_id is not None})
    items = []
    for task in tasks:
        department = departments.get(task.department_id) if task.department_id is not None else None
        items.append(task_entry(task, locale, department.code if department is not None else None,
                                users.get(task.assignee_id) if task.assignee_id is not None else None))
    return items


def task_entry(task: HumanTask, locale: str, department: str | None, assignee: str | None) -> dict[str, Any]:
    """The API shape of one task whose department code and assignee's username are known."""
    return {
        "id": task.id,
        "case_id": task.case_id,
        "case_number": task.case_number,
        "name": task_title(task, locale),
        "element_id": task.element_id,
        "form_key": task.form_key,
        "department": department,
        "assignee": assignee,
        "status": task.state,
        "due_at": iso(task.due_at),
        "created_at": iso(task.created_at),
        "completed_at": iso(task.completed_at),
        "customer_name": task.customer_name,
    }


def task_item(task: HumanTask, locale: str) -> dict[str, Any]:
    return task_items([task], locale)[0]


#: An instance's open tasks, oldest first (ties by id, as
#: :meth:`app.engine.runtime.WorkflowRuntime.open_tasks_after` orders them), with their department's
#: code and assignee's username joined (not every department read in a statement of its own);
#: built once with a bound id.
_OPEN_TASKS = (
    select(HumanTask, Department.code, User.username)
    .outerjoin(Department, Department.id == HumanTask.department_id)
    .outerjoin(User, User.id == HumanTask.assignee_id)
    .where(HumanTask.instance_id == bindparam("instance_id"), HumanTask.state == TaskState.OPEN)
    .order_by(HumanTask.created_at, HumanTask.id)
)


def instance_open_tasks(instance_id: int, locale: str, left: list[HumanTask] | None = None) -> list[dict[str, Any]]:
    """The API shape of an instance's open tasks: ``left``, as the operation of this transaction
    left them (:meth:`WorkflowRuntime.open_tasks_after`), or else read. Before the commit: the
    rows and the departments are the transaction's."""
    if left is not None:
        return task_items(left, locale)
    return [task_entry(task, locale, department, assignee)
            for task, department, assignee in db.session.execute(_OPEN_TASKS, {"instance_id": instance_id})]


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return iso(value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def _task_id(task_id: str) -> str:
    if not valid_task_id(task_id):
        raise NotFound(N_("Task not found."))
    return task_id


# ---------------------------------------------------------------------------- endpoints


@bp.get("/tasks")
@endpoint()
def list_tasks():
    """Open tasks visible to the caller: scope mine, department or all (default)."""
    scope = request.args.get("scope", "all")
    if scope not in TASK_SCOPES:
        raise ApiError(400, _("Unknown scope; use mine, department or all."))
    limit, offset = page_args(DEFAULT_LIMIT, MAX_LIMIT)
    tasks = open_tasks(db.session, api_user(), scope, limit=limit, offset=offset,
                       all_allowed=policy.may_see_all_tasks(api_user()))
    return jsonify(scope=scope, limit=limit, offset=offset, tasks=task_items(tasks, api_locale()))


@bp.get("/tasks/<task_id>")
@endpoint()
def get_task(task_id: str):
    """One task with its form schema and the current values of its fields."""
    task = task_service.get_visible(db.session, api_user(), _task_id(task_id))
    locale = api_locale()
    item = task_item(task, locale)
    form = form_service.task_schema(db.session, task, locale)
    names = {f["name"] for f in form["fields"]}
    data = runtime().task_data(db.session, task.id) if task.state == TaskState.OPEN else {}
    item.update(
        form=form,
        data={k: _jsonable(v) for k, v in data.items() if k in names},
        can_act=policy.may_complete(api_user(), task),
    )
    return jsonify(item)


@bp.post("/tasks/<task_id>/claim")
@endpoint()
def claim_task(task_id: str):
    """Assign the task to the caller."""
    task = task_service.claim(db.session, api_user(), _task_id(task_id))
    db.session.commit()
    return jsonify(task_item(task, api_locale()))


@bp.post("/tasks/<task_id>/unclaim")
@endpoint()
def unclaim_task(task_id: str):
    """Give the task back to its department."""
    task = task_service.unclaim(db.session, api_user(), _task_id(task_id))
    db.session.commit()
    return jsonify(task_item(task, api_locale()))


@bp.post("/tasks/<task_id>/complete")
@endpoint()
def complete_task(task_id: str):
    """Complete the task with its form data; a repeated submit_token answers like the first.

    JSON ``{"data", "submit_token"}``, or multipart/form-data with the same as parts (``data``
    as JSON text) plus the files under their file fields' names — validated exactly like the
    task page (app.services.completion).
    """
    task_id = _task_id(task_id)
    # kept: the session holds it only weakly, and the completion reads it again
    authorized = task_service.authorize_completion(db.session, api_user(), task_id)  # noqa: F841
    if request.mimetype == "multipart/form-data":
        body, files = multipart_body(json_parts=("data",))
    else:
        body, files = json_body(), None
    submit_token = body.get("submit_token")
    if submit_token is not None and (
        not isinstance(submit_token, str) or not submit_token or len(submit_token) > MAX_SUBMIT_TOKEN
    ):
        raise validation_error({"submit_token": [N_("submit_token must be a string of 1 to 64 characters.")]})
    unknown = sorted(set(body) - {"data", "submit_token"})
    if unknown:
        raise validation_error({name: [N_("Unknown field.")] for name in unknown})
    locale = api_locale()
    result = completion.complete_task(
        db.session, runtime(), api_user(), task_id, Submission(data=body.get("data"), files=files, locale=locale,
                                                     max_bytes=_file_limit()),
        store_file=file_store(), submit_token=submit_token,
    )
    if not result.ok:
        raise validation_error(result.errors)
    # before the commit: with the departments this transaction read; the instance's open tasks as
    # the completion left them, so a client goes on to the next one without reading the instance
    item = task_item(result.task, locale)
    item["instance_open_tasks"] = instance_open_tasks(result.task.instance_id, locale, result.open_tasks)
    db.session.commit()
    return jsonify(item)
