"""The task page: case essentials and the task's form; completing it moves the case on."""

from __future__ import annotations

import re
import uuid

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from markupsafe import Markup

from app.data.models import Case, TaskState
from app.data.queries.history import completion_data
from app.errors import AppError
from app.extensions import db, file_store, runtime
from app.formkit.build import existing_files
from app.services import drafts, policy, rounds
from app.services import tasks as task_service
from app.services.completion import Submission, complete_task
from app.services.forms import definition_for_task, prefill, with_task_data
from app.services.task_context import task_context
from app.web.shared.display import locale, readable, task_title
from app.web.shared.forms import bound_form, build_form
from app.web.shared.uploads import file_limit, keep_received, received_uploads, received_used, too_large

bp = Blueprint("tasks", __name__, url_prefix="/tasks")

TOKEN_RE = re.compile(r"^[A-Za-z0-9-]{8,64}$")


def _submit_token() -> str:
    token = request.form.get("submit_token", "")
    return token if TOKEN_RE.match(token) else ""


def _done(task) -> None:
    """Say it is done, and offer the case's next task for this user when there is one."""
    flash(_("Task “%(title)s” of case %(number)s completed.", title=task_title(task), number=task.case_number or ""),
          "success")
    offer_next(task.case_id)


def offer_next(case_id) -> None:
    """A notice with a link to the case's next task this user may do (none when there is none)."""
    following = task_service.next_for(db.session, current_user, case_id)
    if following is not None:
        flash(Markup('{}<a href="{}" class="alert-link" data-testid="next-task">{}</a>').format(
            _("Next for you on this case: "), url_for("tasks.show", task_id=following.id), task_title(following)),
            "info")


def _case(task):
    return db.session.get(Case, task.case_id) if task.case_id else None


def _rounds(task) -> dict:
    """Who sent this task back and why, what the step's earlier rounds decided, and the earlier
    data its form declares."""
    return {"sent_back": rounds.sent_back_by(db.session, task), "history": rounds.earlier_decisions(db.session, task),
            "context_sections": task_context(db.session, task)}


@bp.get("/<task_id>")
@login_required
def show(task_id: str):
    """The task with its form: to fill in, to look at, or what was submitted once it is done."""
    task = task_service.get_visible(db.session, current_user, task_id)
    definition = definition_for_task(db.session, task)
    if task.state != TaskState.OPEN:
        submitted = readable(definition, completion_data(db.session, [task.id]).get(task.id))
        return render_template("tasks/show.html", title=task_title(task), task=task, case=_case(task), mode="closed",
                               definition=definition, submitted=submitted, form=None)
    try:
        data = runtime().task_data(db.session, task.id)
    except AppError:  # the page still shows the form, without prefilled values
        data = {}
    definition = with_task_data(definition, lambda: data)
    draft = drafts.draft_for(db.session, current_user, task)
    form = (bound_form(definition, drafts.draft_pairs(draft)) if draft
            else build_form(definition, prefill(definition, data)))
    return render_template(
        "tasks/show.html", title=task_title(task), task=task, case=_case(task), definition=definition,
        form=form, draft=draft,
        mode="edit" if policy.may_complete(current_user, task) else "view",
        submit_token=uuid.uuid4().hex, files=existing_files(definition, data), upload_token=received_uploads().token,
        may_claim=task.assignee_id is None and policy.may_claim(current_user, task), **_rounds(task),
    )


@bp.post("/<task_id>")
@login_required
def complete(task_id: str):
    """Submit the task's form: complete the task, or show the form again with its errors (422).

    Refusals (not allowed, already completed, changed meanwhile) are answered by
    ``app/web/errors.py``; a second submit with the same token only says it is done.
    """
    token = _submit_token() or uuid.uuid4().hex
    got = received_uploads()
    refused = too_large()
    result = complete_task(
        db.session, runtime(), current_user, task_id,
        Submission(form=request.form, files=request.files, locale=locale(), received=got.files,
                   max_bytes=file_limit(), refused=refused),
        store_file=file_store(), submit_token=token,
    )
    if not result.ok:
        db.session.rollback()
        task = result.task
        if result.form is not None:
            got = keep_received(got, result.form, result.definition, locale())
        return render_template(
            "tasks/show.html", title=task_title(task), task=task, case=_case(task), definition=result.definition,
            form=result.form, mode="edit", submit_token=token, files=result.files, invalid=True, may_claim=False,
            received=got.rows, upload_token=got.token, too_large=refused, **_rounds(task),
        ), 422
    received_used(got)
    db.session.commit()
    _done(result.task)
    return redirect(url_for("inbox.index"))


@bp.post("/<task_id>/draft")
@login_required
def save_draft(task_id: str):
    """Keep what the user typed, unvalidated, as their draft of the task (files are not kept)."""
    drafts.save_draft(db.session, current_user, task_id, request.form.items(multi=True))
    db.session.commit()
    flash(_("Draft saved. It is restored when you come back to this task."), "success")
    return redirect(url_for("tasks.show", task_id=task_id))
