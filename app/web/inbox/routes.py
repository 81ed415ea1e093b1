"""The inbox: my tasks and my departments' queue, with claim and release."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.data.queries import count_rows, open_tasks_query, page_of
from app.engine.errors import NotFound, TaskNotOpen
from app.extensions import db
from app.services import tasks as task_service
from app.web.cases.routes import may_open_cases
from app.web.tasks.display import install

bp = Blueprint("inbox", __name__, url_prefix="/inbox")
install(bp)

PAGE_SIZE = 50
ELEVATED = ("admin", "manager", "auditor")


def _tabs() -> list[tuple[str, str]]:
    tabs = [("mine", _("My tasks")), ("department", _("My departments' queue"))]
    if current_user.has_role(*ELEVATED):
        tabs.append(("all", _("All open tasks")))
    return tabs


def _page() -> int:
    try:
        return max(int(request.args.get("page", 1)), 1)
    except ValueError:
        return 1


@bp.route("/")
@login_required
def index():
    tabs = _tabs()
    scope = request.args.get("tab", "mine")
    if scope not in {key for key, _label in tabs}:
        scope = "mine"
    counts = {key: count_rows(db.session, open_tasks_query(current_user, key)) for key, _label in tabs}
    page = _page()
    rows, total = page_of(db.session, open_tasks_query(current_user, scope), page, PAGE_SIZE)
    pages = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    return render_template(
        "inbox/index.html", title=_("Inbox"), tabs=tabs, scope=scope, counts=counts, tasks=rows,
        page=page, pages=pages, total=total, may_open=may_open_cases(current_user),
        may_claim=lambda t: t.assignee_id is None and t.department_id in current_user.department_ids,
        may_release=lambda t: t.assignee_id is not None and (
            t.assignee_id == current_user.id or t.department_id in current_user.head_of_ids),
    )


def _back() -> str:
    target = request.form.get("next") or ""
    parts = urlsplit(target)
    if target.startswith("/") and not target.startswith("//") and not parts.scheme and not parts.netloc:
        return target
    return url_for("inbox.index")


@bp.route("/<task_id>/claim", methods=["POST"])
@login_required
def claim(task_id: str):
    try:
        task = task_service.claim(db.session, current_user, task_id)
        db.session.commit()
    except NotFound:
        db.session.rollback()
        abort(404)
    except task_service.Forbidden:
        db.session.rollback()
        abort(403)
    except TaskNotOpen as exc:
        db.session.rollback()
        flash(_(exc.message), "warning")
        return redirect(_back())
    flash(_("You have claimed the task %(number)s.", number=task.case_number or ""), "success")
    return redirect(_back())


@bp.route("/<task_id>/release", methods=["POST"])
@login_required
def release(task_id: str):
    try:
        task = task_service.unclaim(db.session, current_user, task_id)
        db.session.commit()
    except NotFound:
        db.session.rollback()
        abort(404)
    except task_service.Forbidden:
        db.session.rollback()
        abort(403)
    except TaskNotOpen as exc:
        db.session.rollback()
        flash(_(exc.message), "warning")
        return redirect(_back())
    flash(_("The task %(number)s is back in the department queue.", number=task.case_number or ""), "info")
    return redirect(_back())
