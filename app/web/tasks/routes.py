"""The task page: case essentials and the task's form; completing it moves the case on."""

from __future__ import annotations

import re
import uuid

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.data.models import Case, TaskState
from app.data.queries import completed_task_events
from app.engine.errors import ConcurrentUpdate, InstanceNotRunning, NotFound, TaskNotOpen
from app.errors import AppError
from app.extensions import db, runtime
from app.services import policy
from app.services import tasks as task_service
from app.services.errors import Forbidden
from app.services.forms import definition_for_task, with_task_data
from app.web.tasks.display import install, readable, task_title
from app.web.tasks.forms import build_form, check_files, existing_files, submitted_data

bp = Blueprint("tasks", __name__, url_prefix="/tasks")
install(bp)

TOKEN_RE = re.compile(r"^[A-Za-z0-9-]{8,64}$")


def _load(task_id: str):
    try:
        return task_service.get_visible(db.session, current_user, task_id)
    except NotFound:
        abort(404)
    except Forbidden:
        abort(403)


def _submit_token() -> str:
    token = request.form.get("submit_token", "")
    return token if TOKEN_RE.match(token) else ""


def _done(task) -> None:
    flash(_("Task “%(title)s” of case %(number)s completed.", title=task_title(task), number=task.case_number or ""),
          "success")


@bp.route("/<task_id>", methods=["GET", "POST"])
@login_required
def show(task_id: str):
    task = _load(task_id)
    case = db.session.get(Case, task.case_id) if task.case_id else None
    if task.form_key is None and task.form_id is None:
        definition = {"key": "no_form", "fields": []}  # a task that only needs to be confirmed
    else:
        try:
            definition = definition_for_task(db.session, task)
        except NotFound:
            abort(404)
    if task.state != TaskState.OPEN:
        if request.method == "POST":
            token = _submit_token()
            if token and token == task.completion_token:
                _done(task)
            else:
                flash(_("This task has already been completed by someone else. Nothing was saved."), "warning")
            return redirect(url_for("inbox.index"))
        events = completed_task_events(db.session, task.id)
        submitted = readable(definition, events[-1].data_after) if events else []
        return render_template("tasks/show.html", title=task_title(task), task=task, case=case, mode="closed",
                               definition=definition, submitted=submitted, form=None)

    may_act = policy.may_complete(current_user, task)
    try:
        data = runtime().task_data(db.session, task.id)
    except AppError:
        data = {}
    definition = with_task_data(definition, lambda: data)
    files = existing_files(definition, data)
    if request.method == "POST":
        if not may_act:
            abort(403)
        return _complete(task, case, definition, files)
    form = build_form(definition, data)
    return render_template(
        "tasks/show.html", title=task_title(task), task=task, case=case, definition=definition, form=form,
        mode="edit" if may_act else "view", submit_token=uuid.uuid4().hex, files=files,
        may_claim=task.assignee_id is None and policy.may_claim(current_user, task),
    )


def _complete(task, case, definition, files):
    token = _submit_token() or uuid.uuid4().hex
    form = build_form(definition)
    valid = form.validate_on_submit()
    valid = check_files(form, definition, files) and valid
    if not valid:
        db.session.rollback()
        return render_template(
            "tasks/show.html", title=task_title(task), task=task, case=case, definition=definition, form=form,
            mode="edit", submit_token=token, files=files, invalid=True, may_claim=False,
        ), 422
    try:
        data = submitted_data(form, definition, files)
        done = task_service.complete_validated(db.session, runtime(), current_user, task.id, data, token)
        db.session.commit()
    except TaskNotOpen:
        db.session.rollback()
        flash(_("This task has already been completed by someone else. Nothing was saved."), "warning")
        return redirect(url_for("inbox.index"))
    except Forbidden:
        db.session.rollback()
        abort(403)
    except ConcurrentUpdate:
        db.session.rollback()
        flash(_("Someone else changed this case at the same moment. Nothing was saved; please submit again."),
              "warning")
        return redirect(url_for("tasks.show", task_id=task.id))
    except InstanceNotRunning:
        db.session.rollback()
        flash(_("The process of this task is no longer running. Nothing was saved."), "warning")
        return redirect(url_for("inbox.index"))
    except AppError as exc:
        db.session.rollback()
        flash(_(exc.message), "danger")
        return redirect(url_for("tasks.show", task_id=task.id))
    _done(done)
    return redirect(url_for("inbox.index"))

