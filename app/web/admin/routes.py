"""Administration: users (create/edit), departments, process incidents. Role admin only."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.data.models import ROLES, User
from app.data.queries import case_numbers, department_members, incident_instances
from app.extensions import db
from app.services.accounts import AccountError, departments, save_user, users
from app.web.admin.forms import ROLE_LABELS, user_form
from app.web.tasks.display import install

bp = Blueprint("admin", __name__, url_prefix="/admin")
install(bp)


@bp.before_request
@login_required
def require_admin():
    """Every administration route is for role admin only (checked on the server)."""
    if not current_user.has_role("admin"):
        abort(403)


@bp.route("/")
def index():
    return redirect(url_for("admin.users"))


@bp.route("/users")
def users_list():
    return render_template("admin/users.html", title=_("Users"), users=users(db.session),
                           role_labels=ROLE_LABELS)


# The navigation links to admin.users.
bp.add_url_rule("/users", endpoint="users", view_func=users_list)


def _memberships_from_request(department_ids: list[int]) -> dict[int, bool]:
    chosen: dict[int, bool] = {}
    for dept_id in department_ids:
        if request.form.get(f"member_{dept_id}"):
            chosen[dept_id] = bool(request.form.get(f"head_{dept_id}"))
    return chosen


def _edit(user: User | None):
    all_departments = departments(db.session)
    form = user_form(ROLES, obj=user) if request.method == "GET" and user else user_form(ROLES)
    if request.method == "GET" and user is not None:
        form.roles.data = sorted(user.role_names)
    memberships = {m.department_id: m.is_head for m in user.memberships} if user else {}
    if request.method == "POST":
        memberships = _memberships_from_request([d.id for d in all_departments])
        if user is None and not form.password.data:
            form.password.errors = [_("A new user needs a password.")]
        if form.validate_on_submit() and not (user is None and not form.password.data):
            try:
                saved = save_user(
                    db.session, form.username.data, form.display_name.data.strip(), user=user,
                    password=form.password.data or None, email=(form.email.data or "").strip() or None,
                    locale=form.locale.data, departments=memberships, roles=set(form.roles.data or ()),
                    active=form.active.data,
                )
                db.session.commit()
            except AccountError as exc:
                db.session.rollback()
                form.username.errors = [*form.username.errors, _(exc.message)] if "username" in exc.message \
                    else form.username.errors
                if "username" not in exc.message:
                    form.password.errors = [*form.password.errors, _(exc.message)] if "password" in exc.message \
                        else form.password.errors
                    if "password" not in exc.message:
                        flash(_(exc.message), "danger")
            else:
                flash(_("User %(name)s saved.", name=saved.username), "success")
                return redirect(url_for("admin.users"))
        elif user is None and not form.password.data:
            form.password.errors = [*form.password.errors, _("A new user needs a password.")]
        status = 422
    else:
        status = 200
    return render_template(
        "admin/user_form.html", title=_("Edit user") if user else _("New user"), form=form, user=user,
        departments=all_departments, memberships=memberships,
    ), status


@bp.route("/users/new", methods=["GET", "POST"])
def new_user():
    return _edit(None)


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
def edit_user(user_id: int):
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    return _edit(user)


@bp.route("/departments")
def departments_list():
    return render_template("admin/departments.html", title=_("Departments"), departments=departments(db.session),
                           members=department_members(db.session))


@bp.route("/incidents")
def incidents():
    rows = incident_instances(db.session)
    numbers = case_numbers(db.session, {r.case_id for r in rows if r.case_id})
    return render_template("admin/incidents.html", title=_("Incidents"), instances=rows, numbers=numbers)
