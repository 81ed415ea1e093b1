"""Administration: users (create/edit), departments, process incidents, settings. Role admin only."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.data.models import ROLES, AlertDimension, User
from app.data.queries.cases import case_numbers, incident_instances
from app.data.queries.people import department_members
from app.extensions import db
from app.i18n import N_
from app.services import accounts, alert_rules, policy, retention, signin
from app.services import settings as app_settings
from app.services.accounts import AccountError
from app.services.errors import InvalidInput
from app.web.admin.forms import ROLE_LABELS, SettingsForm, user_form

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
@login_required
def require_admin():
    """Every administration route is for role admin only (checked on the server)."""
    if not policy.may_administer(current_user):
        abort(403)


@bp.route("/")
def index():
    return redirect(url_for("admin.users"))


@bp.route("/users")
def users():
    return render_template("admin/users.html", title=_("Users"), users=accounts.users(db.session),
                           role_labels=ROLE_LABELS)


def _memberships_from_request(department_ids: list[int]) -> dict[int, bool]:
    chosen: dict[int, bool] = {}
    for dept_id in department_ids:
        if request.form.get(f"member_{dept_id}"):
            chosen[dept_id] = bool(request.form.get(f"head_{dept_id}"))
    return chosen


def _edit(user: User | None):
    all_departments = accounts.departments(db.session)
    form = user_form(ROLES, obj=user) if request.method == "GET" and user is not None else user_form(ROLES)
    memberships = {m.department_id: m.is_head for m in user.memberships} if user else {}
    form_error = None
    status = 200
    if request.method == "GET" and user is not None:
        form.roles.data = sorted(user.role_names)
    if request.method == "POST":
        memberships = _memberships_from_request([d.id for d in all_departments])
        valid = form.validate_on_submit()
        if user is None and not form.password.data:
            form.password.errors = [*form.password.errors, _("A new user needs a password.")]
            valid = False
        if valid:
            try:
                saved = accounts.save_user(
                    db.session, form.username.data, form.display_name.data.strip(), user=user,
                    password=form.password.data or None, email=(form.email.data or "").strip() or None,
                    locale=form.locale.data, departments=memberships, roles=set(form.roles.data or ()),
                    active=form.active.data, by=accounts.actor(current_user), check_policy=True,
                )
                db.session.commit()
            except AccountError as exc:
                db.session.rollback()
                target = {"This username is already taken.": form.username,
                          "A new user needs a password.": form.password,
                          "The password is too short.": form.password,
                          **dict.fromkeys(accounts.PASSWORD_PROBLEMS, form.password)}.get(exc.message)
                if target is not None:
                    target.errors = [*target.errors, _(exc.message)]
                else:
                    form_error = _(exc.message)
            else:
                flash(_("User %(name)s saved.", name=saved.username), "success")
                return redirect(url_for("admin.users"))
        status = 422
    return render_template(
        "admin/user_form.html", title=_("Edit user") if user else _("New user"), form=form, user=user,
        departments=all_departments, memberships=memberships, form_error=form_error,
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


@bp.route("/users/<int:user_id>/sign-out", methods=["POST"])
def sign_out_user(user_id: int):
    """End every session, remember cookie and API token of the user ("sign out everywhere")."""
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    accounts.end_sessions(db.session, user, api_tokens=True)
    db.session.commit()
    flash(_("%(name)s has been signed out everywhere.", name=user.username), "success")
    return redirect(url_for("admin.edit_user", user_id=user.id))


@bp.route("/users/<int:user_id>/unlock", methods=["POST"])
def unlock_user(user_id: int):
    """Lift the sign-in lockout and delays of the user (audited)."""
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    signin.unlock(db.session, current_user, user)
    db.session.commit()
    flash(_("%(name)s may sign in again.", name=user.username), "success")
    return redirect(url_for("admin.edit_user", user_id=user.id))


@bp.route("/departments")
def departments_list():
    return render_template("admin/departments.html", title=_("Departments"),
                           departments=accounts.departments(db.session), members=department_members(db.session))


@bp.route("/incidents")
def incidents():
    rows = incident_instances(db.session)
    numbers = case_numbers(db.session, {r.case_id for r in rows if r.case_id})
    return render_template("admin/incidents.html", title=_("Incidents"), instances=rows, numbers=numbers)


@bp.route("/settings", methods=["GET", "POST"])
def settings_page():
    form = SettingsForm()
    if request.method == "GET":
        form.logistics_basis.data = app_settings.logistics_basis(db.session)
        form.monthly_report.data = app_settings.monthly_report_enabled(db.session)
    elif form.validate_on_submit():
        app_settings.set_logistics_basis(db.session, form.logistics_basis.data, accounts.actor(current_user))
        app_settings.set_monthly_report(db.session, form.monthly_report.data, accounts.actor(current_user))
        db.session.commit()
        flash(_("Settings saved. Assessments started from now on use them."), "success")
        return redirect(url_for("admin.settings_page"))
    row = app_settings.setting_row(db.session, app_settings.LOGISTICS_BASIS)
    return render_template("admin/settings.html", title=_("Settings"), form=form, changed=row), (
        422 if form.errors else 200)


def _days(name: str) -> int | None:
    value = (request.form.get(name) or "").strip()
    if not value:
        return None
    if not value.isdigit() or len(value) > 6:
        raise InvalidInput(N_("A retention period is between 30 and 36500 days, or empty to keep for ever."))
    return int(value)


@bp.route("/retention", methods=["GET", "POST"])
def retention_page():
    """The retention periods and what they make due (nothing is removed until applied here)."""
    if request.method == "POST":
        retention.set_retention(db.session, current_user, _days("attachments_days"), _days("closed_cases_days"))
        db.session.commit()
        flash(_("Retention periods saved. Nothing is removed until you apply them."), "success")
        return redirect(url_for("admin.retention_page"))
    due = retention.due(db.session, current_app.config["UPLOAD_DIR"])
    return render_template("admin/retention.html", title=_("Retention"), rules=retention.current(db.session),
                           due=due, limit=retention.LIST_LIMIT)


@bp.route("/retention/apply", methods=["POST"])
def apply_retention():
    found = retention.apply(db.session, current_user, current_app.config["UPLOAD_DIR"])
    db.session.commit()
    retention.delete_files(current_app.config["UPLOAD_DIR"], found)
    if found.empty:
        flash(_("Nothing is due for removal."), "info")
    else:
        flash(_("Removed %(files)s attachments and %(cases)s closed cases; each removal is in the audit trail.",
                files=len({item["id"] for _case, item in found.files}), cases=len(found.cases)), "success")
    return redirect(url_for("admin.retention_page"))


def _submitted_rules() -> dict:
    """The rules as typed on the early-warning page (validated by the service)."""
    form = request.form
    data: dict = {dimension: {"threshold": form.get(f"{dimension}_threshold", ""),
                              "window_days": form.get(f"{dimension}_window_days", "")}
                  for dimension in AlertDimension.ALL}
    data["prefix_length"] = form.get("prefix_length", "")
    data["types"] = form.getlist("types")
    return data


@bp.route("/early-warning", methods=["GET", "POST"])
def alert_rules_page():
    """The early-warning rules: per dimension a threshold and a window, the serial prefix length
    and the feedback types that count."""
    error, status = None, 200
    shown = alert_rules.rules(db.session).as_json()
    if request.method == "POST":
        typed = _submitted_rules()
        try:
            alert_rules.set_rules(db.session, typed, accounts.actor(current_user))
        except InvalidInput as exc:
            db.session.rollback()
            error, status, shown = _(exc.message), 422, typed
        else:
            db.session.commit()
            flash(_("Early-warning rules saved. New cases are matched with them."), "success")
            return redirect(url_for("admin.alert_rules_page"))
    return render_template(
        "admin/alert_rules.html", title=_("Early warning"), rules=shown, error=error,
        dimensions=AlertDimension.ALL, feedback_types=alert_rules.FEEDBACK_TYPES, defaults=alert_rules.DEFAULT,
        changed=app_settings.setting_row(db.session, alert_rules.KEY),
    ), status
