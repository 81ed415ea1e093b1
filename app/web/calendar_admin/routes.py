"""Working-time calendar administration (role admin): overrides and the coverage warning."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.clock import clock
from app.engine.calendar import default_calendar
from app.extensions import db
from app.services import calendar_admin as service
from app.services import policy

bp = Blueprint("calendar_admin", __name__, url_prefix="/admin/calendar")


@bp.before_app_request
def refresh_calendar() -> None:
    """Every process follows the calendar admins edit (a cheap version check, once a second)."""
    if request.endpoint == "static":
        return
    service.refresh_if_changed(current_app, db.session)


@bp.app_context_processor
def calendar_warning():
    def calendar_years_missing() -> list[int]:
        if not getattr(current_user, "is_authenticated", False) or not policy.may_administer(current_user):
            return []
        return service.years_needing_entries(db.session)

    return {"calendar_years_missing": calendar_years_missing}


@bp.before_request
@login_required
def require_admin():
    if not policy.may_administer(current_user):
        abort(403)


@bp.route("/")
def index():
    cal = default_calendar()
    year = clock.now().astimezone(service.LOCAL_TZ).year
    coverage = [(y, not cal.uncovered_years([y])) for y in (year, year + 1)]
    return render_template("calendar_admin/index.html", title=_("Working calendar"),
                           overrides=service.overrides(db.session), coverage=coverage,
                           today=clock.now().astimezone(service.LOCAL_TZ).date())


@bp.route("/", methods=["POST"])
def add():
    try:
        day = date.fromisoformat((request.form.get("day") or "").strip())
    except ValueError:
        flash(_("Please give a valid date."), "danger")
        return redirect(url_for("calendar_admin.index"))
    working = request.form.get("working") == "1"
    service.set_override(db.session, day, working, request.form.get("note"), current_user.id)
    db.session.commit()
    service.refresh_if_changed(current_app, db.session, force=True)
    flash(_("Calendar entry saved."), "success")
    return redirect(url_for("calendar_admin.index"))


@bp.route("/<day>/delete", methods=["POST"])
def remove(day: str):
    try:
        parsed = date.fromisoformat(day)
    except ValueError:
        abort(404)
    if service.remove_override(db.session, parsed):
        db.session.commit()
        service.refresh_if_changed(current_app, db.session, force=True)
        flash(_("Calendar entry removed."), "success")
    return redirect(url_for("calendar_admin.index"))
