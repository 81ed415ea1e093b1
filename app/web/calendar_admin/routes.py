"""Working-time calendar administration (role admin): overrides, year confirmations and the
warning for years whose 调休 days are not confirmed."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.clock import clock
from app.engine.calendar import default_calendar, statutory_holidays
from app.extensions import db, runtime
from app.services import calendar_admin as service
from app.services import policy
from app.services.escalation import settings_from_config
from app.services.tasks import actor_for

bp = Blueprint("calendar_admin", __name__, url_prefix="/admin/calendar")


@bp.before_app_request
def refresh_calendar() -> None:
    """Every process follows the calendar admins edit (a cheap version check, once a second)."""
    if request.endpoint == "static":
        return
    service.refresh_if_changed(current_app, db.session)


@bp.before_request
@login_required
def require_admin():
    if not policy.may_administer(current_user):
        abort(403)


@bp.route("/")
def index():
    cal = default_calendar()
    year = service.local_year()
    confirmed = service.confirmations(db.session)
    language = "zh" if str(get_locale()).startswith("zh") else "en"
    years = [
        {"year": y, "covered": not cal.uncovered_years([y]), "confirmation": confirmed.get(y),
         "holidays": statutory_holidays(y, language)}
        for y in (year, year + 1)
    ]
    return render_template("calendar_admin/index.html", title=_("Working calendar"),
                           overrides=service.overrides(db.session), years=years,
                           today=clock.now().astimezone(cal.tz).date())


def _saved(moves: list, message: str) -> None:
    flash(message, "success")
    if moves:
        flash(ngettext("%(num)d pending deadline moved with the calendar.",
                       "%(num)d pending deadlines moved with the calendar.", len(moves)), "info")


def _changed() -> None:
    """After a calendar change, committed or not, this process uses what the database holds."""
    service.refresh_if_changed(current_app, db.session, force=True)


@bp.route("/", methods=["POST"])
def add():
    try:
        day = date.fromisoformat((request.form.get("day") or "").strip())
    except ValueError:
        flash(_("Please give a valid date."), "danger")
        return redirect(url_for("calendar_admin.index"))
    working = request.form.get("working") == "1"
    try:
        moves = service.set_override(db.session, day, working, request.form.get("note"), actor_for(current_user),
                                     runtime(), settings_from_config(current_app.config))
        db.session.commit()
    except Exception:
        db.session.rollback()
        _changed()
        raise
    _changed()
    _saved(moves, _("Calendar entry saved."))
    return redirect(url_for("calendar_admin.index"))


@bp.route("/<day>/delete", methods=["POST"])
def remove(day: str):
    try:
        parsed = date.fromisoformat(day)
    except ValueError:
        abort(404)
    try:
        moves = service.remove_override(db.session, parsed, actor_for(current_user), runtime(),
                                        settings_from_config(current_app.config))
        db.session.commit()
    except Exception:
        db.session.rollback()
        _changed()
        raise
    _changed()
    if moves is not None:
        _saved(moves, _("Calendar entry removed."))
    return redirect(url_for("calendar_admin.index"))


@bp.route("/years/<int:year>/confirm", methods=["POST"])
def confirm(year: int):
    try:
        service.confirm_year(db.session, year, actor_for(current_user))
    except service.CalendarError as exc:
        db.session.rollback()
        flash(_(exc.message), "danger")
    else:
        db.session.commit()
        flash(_("The holidays and adjusted working days of %(year)s are confirmed.", year=year), "success")
    return redirect(url_for("calendar_admin.index"))


@bp.route("/years/<int:year>/withdraw", methods=["POST"])
def withdraw(year: int):
    if service.withdraw_confirmation(db.session, year, actor_for(current_user)):
        db.session.commit()
        flash(_("The confirmation of %(year)s is withdrawn.", year=year), "success")
    return redirect(url_for("calendar_admin.index"))
