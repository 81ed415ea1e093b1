"""The inbox: my tasks, my departments' queue, overdue, recently completed, delegated — with
business-field filters, sorting, pagination, saved filters, claim/release, assignment by
department heads, delegation with return, substitutes while away, and bulk claim/assign.

Lists read only the ``human_task`` projection (and the inbox tables); a workflow is loaded
only for the delegation page (to prefill its form, and to save or complete the task).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from types import SimpleNamespace
from typing import Any, NamedTuple

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from markupsafe import Markup

from app.clock import clock, local_now
from app.data.models import Case, TaskState
from app.data.queries.inbox import inbox_query, saved_filters, tab_counts, unclaimed_query
from app.data.queries.paging import count_rows, page_of
from app.data.queries.people import department_colleagues, substitutions_of, user_names
from app.data.queries.tasks import open_delegation, open_delegations
from app.errors import AppError
from app.extensions import db, file_store, runtime
from app.formkit.build import existing_files
from app.formkit.definition import localized
from app.i18n import N_
from app.services import customer_clock, policy
from app.services import inbox as inbox_service
from app.services import tasks as task_service
from app.services.completion import Submission
from app.services.forms import definition_by_key, definition_for_task, prefill, with_task_data
from app.web.errors import local_url
from app.web.shared import navigation
from app.web.shared.buttons import TaskButtons
from app.web.shared.display import URGENCY, Formatter, locale, remember_user_names, task_title, user_name
from app.web.shared.forms import build_form
from app.web.shared.links import row_url
from app.web.shared.uploads import file_limit

bp = Blueprint("inbox", __name__, url_prefix="/inbox")

MAX_PAGE_SIZE = 100
PAGE_SIZE = 50
CATEGORIES = {
    "quality": N_("Product quality"), "service": N_("Service"), "delivery": N_("Delivery / logistics"),
    "technical": N_("Technical"), "other": N_("Other"),
}


def _categories() -> dict[str, str]:
    """The case categories as the intake form names them (one wording everywhere), else ours."""
    try:
        spec = next(f for f in definition_by_key(db.session, "case_intake")["fields"] if f["name"] == "category")
        return {c["value"]: localized(c.get("label"), locale()) for c in spec["choices"]}
    except (AppError, StopIteration, KeyError):
        return {key: _(label) for key, label in CATEGORIES.items()}


def _tabs() -> list[tuple[str, str]]:
    tabs = [
        ("mine", _("My tasks")), ("department", _("My departments' queue")), ("overdue", _("Overdue")),
        ("completed", _("Recently completed")), ("delegated", _("Delegated by me")),
    ]
    if policy.may_see_all_tasks(current_user):
        tabs.append(("all", _("All open tasks")))
    return tabs


def _int_arg(name: str, default: int, minimum: int = 1) -> int:
    try:
        return max(int(request.args.get(name, default)), minimum)
    except ValueError:
        return default


class RowActions(NamedTuple):
    """What the signed-in user may do with one row (the policy's answers)."""

    claim: bool
    release: bool
    assign: bool
    delegate: bool


class InboxRow(NamedTuple):
    """One row of the inbox with what it shows worked out in the view, through the page's
    Formatter (a dozen helper calls per row from the template cost more than the helpers' work)."""

    task: Any
    overdue: bool
    delegation: Any
    can: RowActions
    case_link: str
    clock: Markup | None  # the customer's clock badge; None: no running clock to show
    category: Markup | None
    title: str
    department: str
    assignee: str
    urgency: Markup
    when: str  # due (open views) or completed
    time_left: Markup
    buttons: Markup
    task_link: str


def _rows(tasks: Sequence[Any], open_view: bool, fmt: Formatter, actions: dict[str, RowActions],
          delegations: dict, clocks: dict, categories: dict[str, str], links: SimpleNamespace,
          buttons: TaskButtons) -> list[InboxRow]:
    labels: dict[str, Markup] = {}

    def category(value: str) -> Markup:
        """The template's ``_(label)``: the translation, marked safe as Jinja's gettext marks it."""
        found = labels.get(value)
        if found is None:
            text = Markup(fmt.gettext(categories.get(value, value)))  # noqa: S704 - our catalogue, as Jinja's _
            found = labels[value] = text % {} if "%" in text else text
        return found

    rows = []
    for task in tasks:
        can, view = actions[task.id], clocks.get(task.case_id)
        rows.append(InboxRow(
            task, fmt.is_overdue(task), delegations.get(task.id), can,
            links.case(task.case_id) if task.case_id else "",
            fmt.clock_badge(view) if view and view.clock else None,
            category(task.category) if task.category else None,
            fmt.task_title(task), fmt.dept_name(task.department_id),
            user_name(task.assignee_id) if task.assignee_id else "", fmt.urgency_badge(task.urgency),
            fmt.fmt_dt(task.due_at if open_view else task.completed_at),
            fmt.time_left_badge(task) if open_view else Markup(""),
            buttons(task.id, can.claim, can.release), links.task(task.id),
        ))
    return rows


def _row_links() -> SimpleNamespace:
    return SimpleNamespace(
        case=row_url("cases.show", "case_id", 2**31 - 1),
        **{name: row_url(endpoint, "task_id", "row-task-id") for name, endpoint in (
            ("task", "tasks.show"), ("work", "inbox.work"), ("claim", "inbox.claim"), ("release", "inbox.release"),
            ("recall", "inbox.recall"), ("assign", "inbox.assign"), ("delegate", "inbox.delegate"))},
    )


def _colleagues_by_department(department_ids: set[int]) -> dict[int, list]:
    return {dept_id: list(department_colleagues(db.session, dept_id)) for dept_id in sorted(department_ids)}


@bp.route("/")
@login_required
def index():
    tabs = _tabs()
    view = request.args.get("tab", "mine")
    if view not in {key for key, _label in tabs}:
        view = "mine"
    scope = navigation.inbox_scope()
    flt = inbox_service.parse_filter(request.args)
    now = clock.now()
    filtered = any(request.args.get(k) for k in inbox_service.FILTER_FIELDS if k != "sort")
    if filtered:
        counts = {key: count_rows(db.session, inbox_query(scope, key, flt, now))
                  for key in ("mine", "department", "overdue")}
        unclaimed = count_rows(db.session, unclaimed_query(scope)) if view == "mine" else None
        navigation.remember_counts(unclaimed=unclaimed)
    else:  # one statement; the navigation's badges show the same counts: they don't count again
        counts = tab_counts(db.session, scope, now)
        unclaimed = counts.pop("unclaimed")
        navigation.remember_counts(mine=counts["mine"], unclaimed=unclaimed)
    size = min(_int_arg("size", PAGE_SIZE), MAX_PAGE_SIZE)
    page = _int_arg("page", 1)
    if filtered or view not in counts:
        rows, total = page_of(db.session, inbox_query(scope, view, flt, now), page, size)
    else:  # the tab's count is the view's total: not counted a second time
        total = counts[view]
        rows = db.session.scalars(inbox_query(scope, view, flt, now).limit(size).offset((page - 1) * size)).all()
    pages = max((total + size - 1) // size, 1)
    delegations = open_delegations(db.session, {t.id for t in rows})
    # one look-up for every name the page shows (the rows' assignees too: user_name() asked for
    # each one on its own)
    names = user_names(db.session, {d.delegator_id for d in delegations.values()}
                       | {d.delegate_id for d in delegations.values()} | (scope.user_ids - {current_user.id})
                       | {t.assignee_id for t in rows if t.assignee_id is not None})
    remember_user_names(names, {t.assignee_id for t in rows if t.assignee_id is not None})
    head_of = set(current_user.head_of_ids)
    standing = scope.user_ids - {current_user.id}
    # each row's buttons asked once (the template and the colleagues below both need them); the
    # user object itself, not the request-local proxy
    rights = policy.InboxRights(current_user._get_current_object(), navigation.standing(), set(delegations))
    actions = {t.id: RowActions(rights.may_claim(t), rights.may_release(t), rights.may_assign(t),
                                rights.may_delegate(t)) for t in rows}
    # colleagues fill the assign / delegate choices: only for rows that offer them (and the bulk
    # assignment of a head's departments)
    colleagues = _colleagues_by_department({t.department_id for t in rows if t.department_id and (
        actions[t.id].assign or actions[t.id].delegate)} | head_of)
    # the customer's clock of the cases on this page: one look-up by primary key, not a join in
    # the inbox query (which stays on the indexed human_task table)
    clocks = customer_clock.views(db.session, {t.case_id for t in rows if t.case_id}, now)
    # the rows' helpers bound once to the language, translations, time zone and this instant
    fmt = Formatter(now)
    links, categories = _row_links(), _categories()

    return render_template(
        "inbox/index.html", title=_("Inbox"), tabs=tabs, scope=view, counts=counts,
        rows=_rows(rows, view != "completed", fmt, actions, delegations, clocks, categories, links,
                   TaskButtons(request.full_path, fmt.gettext)),
        unclaimed=unclaimed or 0, page=page, pages=pages, total=total, size=size, flt=flt, args=request.args,
        may_open=policy.may_open_case(current_user), links=links,
        fmt=fmt, _=fmt.template_gettext, names=names,
        colleagues=colleagues, head_of=head_of, standing=standing,
        standing_names="、".join(names.get(uid, "?") for uid in sorted(standing)),
        filters=saved_filters(db.session, current_user.id), urgencies=URGENCY, categories=categories,
        departments=sorted(scope.department_ids), current_query=inbox_service.clean_query(request.args),
        bulk_assignees=sorted({u.id: u for d in head_of for u in colleagues.get(d, [])}.values(),
                              key=lambda u: u.username),
        filtered=filtered,
    )


def _back() -> str:
    return local_url(request.form.get("next")) or url_for("inbox.index")


def _run(action, success, category: str = "success"):
    """Run a service call, commit, flash and go back (refusals: ``app/web/errors.py``)."""
    result = action()
    db.session.commit()
    flash(success(result), category)
    return redirect(_back())


@bp.route("/<task_id>/claim", methods=["POST"])
@login_required
def claim(task_id: str):
    return _run(lambda: task_service.claim(db.session, current_user, task_id),
                lambda task: _("You have claimed the task %(number)s.", number=task.case_number or ""))


@bp.route("/<task_id>/release", methods=["POST"])
@login_required
def release(task_id: str):
    return _run(lambda: task_service.unclaim(db.session, current_user, task_id),
                lambda task: _("The task %(number)s is back in the department queue.", number=task.case_number or ""),
                "info")


def _refused(check):
    """Ask the service whether the action is allowed before reading the form; a refusal is
    answered by ``app/web/errors.py`` (404, 403, or a flash and a redirect). None: go ahead."""
    check()
    db.session.rollback()  # the check only reads
    return None


def _form_int(name: str) -> int | None:
    value = (request.form.get(name) or "").strip()
    return int(value) if value.isdigit() else None


@bp.route("/<task_id>/assign", methods=["POST"])
@login_required
def assign(task_id: str):
    refused = _refused(lambda: inbox_service.check_assign(db.session, current_user, task_id))
    if refused is not None:
        return refused
    assignee_id = _form_int("assignee_id")
    if assignee_id is None:
        flash(_("Choose a colleague to assign to."), "warning")
        return redirect(_back())
    raw = request.form.get("expected_assignee", "any")
    expected: int | str | None = None if raw == "" else (int(raw) if raw.isdigit() else "any")
    return _run(
        lambda: inbox_service.assign(db.session, current_user, task_id, assignee_id, expected),
        lambda task: _("Task %(number)s assigned to %(name)s.", number=task.case_number or "",
                       name=user_names(db.session, {assignee_id}).get(assignee_id, "?")),
    )


@bp.route("/<task_id>/delegate", methods=["POST"])
@login_required
def delegate(task_id: str):
    refused = _refused(lambda: inbox_service.check_delegate(db.session, current_user, task_id))
    if refused is not None:
        return refused
    delegate_id = _form_int("delegate_id")
    if delegate_id is None:
        flash(_("Choose a colleague to delegate to."), "warning")
        return redirect(_back())
    return _run(
        lambda: inbox_service.delegate(db.session, current_user, task_id, delegate_id, request.form.get("note", "")),
        lambda d: _("Task delegated to %(name)s; it comes back to you for a final check.",
                    name=user_names(db.session, {d.delegate_id}).get(d.delegate_id, "?")),
    )


@bp.route("/<task_id>/recall", methods=["POST"])
@login_required
def recall(task_id: str):
    return _run(lambda: inbox_service.recall(db.session, current_user, task_id),
                lambda task: _("You have taken the task %(number)s back.", number=task.case_number or ""), "info")


@bp.route("/bulk", methods=["POST"])
@login_required
def bulk():
    action = request.form.get("action", "")
    task_ids = [t for t in request.form.getlist("task_id") if t][:200]
    if not task_ids:
        flash(_("Select at least one task."), "warning")
        return redirect(_back())
    results = inbox_service.bulk(db.session, current_user, action, task_ids, _form_int("assignee_id"))
    for item in results:
        label = item.case_number or item.task_id[:8]
        flash(Markup("<span data-testid=\"bulk-result\" data-ok=\"{}\" data-task-id=\"{}\">{}: {}</span>").format(
            "true" if item.ok else "false", item.task_id, label, _(item.message)),
            "success" if item.ok else "warning")
    return redirect(_back())


# ---------------------------------------------------------------------------- saved filters


@bp.route("/filters", methods=["POST"])
@login_required
def save_filter():
    query = request.form.get("query", "")
    return _run(lambda: inbox_service.save_filter(db.session, current_user, request.form.get("name", ""), query),
                lambda row: _("Filter “%(name)s” saved.", name=row.name))


@bp.route("/filters/<int:filter_id>/delete", methods=["POST"])
@login_required
def delete_filter(filter_id: int):
    return _run(lambda: inbox_service.delete_filter(db.session, current_user, filter_id),
                lambda _row: _("Filter deleted."), "info")


# ---------------------------------------------------------------------------- substitutes


@bp.route("/substitutes", methods=["GET", "POST"])
@login_required
def substitutes():
    if request.method == "POST":
        try:
            starts = date.fromisoformat(request.form.get("starts_on", ""))
            ends = date.fromisoformat(request.form.get("ends_on", ""))
        except ValueError:
            flash(_("Enter the first and last day as dates."), "warning")
            return redirect(url_for("inbox.substitutes"))
        substitute_id = _form_int("substitute_id")
        if substitute_id is None:
            flash(_("Choose a colleague."), "warning")
            return redirect(url_for("inbox.substitutes"))
        inbox_service.name_substitute(db.session, current_user, substitute_id, starts, ends)
        db.session.commit()
        flash(_("Substitute saved."), "success")
        return redirect(url_for("inbox.substitutes"))
    from app.data.models import User

    rows = substitutions_of(db.session, current_user.id)
    names = user_names(db.session, {r.user_id for r in rows} | {r.substitute_id for r in rows})
    active = db.session.query(User).filter(User.active.is_(True), User.id != current_user.id).order_by(User.username)
    users = [u for u in active if policy.may_name_substitute(current_user, u)]
    return render_template("inbox/substitutes.html", title=_("Substitutes"), rows=rows, names=names,
                           users=users, today=local_now().date())


@bp.route("/substitutes/<int:substitution_id>/delete", methods=["POST"])
@login_required
def end_substitution(substitution_id: int):
    inbox_service.end_substitution(db.session, current_user, substitution_id)
    db.session.commit()
    flash(_("Substitution removed."), "info")
    return redirect(url_for("inbox.substitutes"))


# ---------------------------------------------------------------------------- delegation page


@bp.before_app_request
def _route_delegated_tasks():
    """A task under delegation is worked on from the delegation page: the delegate saves a
    draft there, the delegator does the final check there (the task page would complete it)."""
    if request.endpoint not in ("tasks.show", "tasks.complete") or not current_user.is_authenticated:
        return None
    task_id = (request.view_args or {}).get("task_id")
    delegation = open_delegation(db.session, task_id) if task_id else None
    if delegation is None:
        return None
    if policy.drafts_for(current_user, delegation) or policy.checks_draft(current_user, delegation):
        return redirect(url_for("inbox.work", task_id=task_id), code=307 if request.method == "POST" else 302)
    return None


@bp.route("/<task_id>/work", methods=["GET", "POST"])
@login_required
def work(task_id: str):
    """The delegation page: the delegate saves a draft, the delegator checks and completes it."""
    task = task_service.get_visible(db.session, current_user, task_id)
    delegation = open_delegation(db.session, task_id)
    if task.state != TaskState.OPEN or delegation is None:
        return redirect(url_for("tasks.show", task_id=task_id))
    as_delegate = policy.drafts_for(current_user, delegation)
    as_delegator = policy.checks_draft(current_user, delegation)
    if not (as_delegate or as_delegator):
        return redirect(url_for("tasks.show", task_id=task_id))
    case = db.session.get(Case, task.case_id) if task.case_id else None
    names = user_names(db.session, {delegation.delegator_id, delegation.delegate_id})
    context = dict(title=task_title(task), task=task, case=case, delegation=delegation, as_delegate=as_delegate,
                   names=names)
    if request.method == "GET":
        definition = definition_for_task(db.session, task)
        try:
            data = runtime().task_data(db.session, task.id)
        except AppError:  # the page still shows the form, without prefilled values
            data = {}
        definition = with_task_data(definition, lambda: data)
        data = prefill(definition, data)
        if as_delegator and delegation.draft:
            data = {**data, **delegation.draft}
        return render_template("inbox/work.html", form=build_form(definition, data), definition=definition,
                               files=existing_files(definition, data), submit_token=uuid.uuid4().hex, **context)
    token = request.form.get("submit_token", "")[:64] or uuid.uuid4().hex
    submission = Submission(form=request.form, files=request.files, locale=locale(), max_bytes=file_limit())
    if as_delegate:
        result = inbox_service.return_draft(db.session, runtime(), current_user, task_id, submission,
                                            store_file=file_store())
    else:
        result = inbox_service.finish_delegated(db.session, runtime(), current_user, task_id, submission,
                                                store_file=file_store(), submit_token=token)
    if not result.ok:
        db.session.rollback()
        return render_template("inbox/work.html", form=result.form, definition=result.definition,
                               files=result.files, submit_token=token, invalid=True, **context), 422
    db.session.commit()
    if as_delegate:
        flash(_("Saved. The task is back with %(name)s for a final check.",
                name=names.get(delegation.delegator_id, "?")), "success")
    else:
        flash(_("Task “%(title)s” of case %(number)s completed.", title=task_title(task),
                number=task.case_number or ""), "success")
    return redirect(url_for("inbox.index"))
