"""Home, language switch, health and error pages."""

from __future__ import annotations

from flask import Blueprint, jsonify, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.exceptions import HTTPException

from app.extensions import db
from app.web.errors import wants_json

bp = Blueprint("main", __name__)


@bp.route("/")
@login_required
def index():
    if "inbox.index" in _endpoints():
        return redirect(url_for("inbox.index"))
    return render_template("base.html", title=_("Home"))


def _endpoints() -> set[str]:
    from flask import current_app

    return set(current_app.view_functions)


@bp.route("/language/<code>", methods=["POST"])
def set_language(code: str):
    """Switch the interface language (stored on the user, or in the session)."""
    if code not in ("zh", "en"):
        code = "zh"
    session["locale"] = code
    if current_user.is_authenticated:
        current_user.locale = code
        db.session.commit()
    target = request.referrer or url_for("main.index")
    return redirect(target if target.startswith(request.host_url) else url_for("main.index"))


@bp.app_errorhandler(HTTPException)
def http_error(exc: HTTPException):
    messages = {
        400: _("The request could not be understood."),
        403: _("You do not have permission to do this."),
        404: _("The page you asked for does not exist."),
        405: _("This action is not allowed here."),
        409: _("Someone else changed this first. Please reload and try again."),
        413: _("The upload is too large."),
        429: _("Too many requests. Please wait a moment and try again."),
    }
    message = messages.get(exc.code or 500, _("Something went wrong."))
    if wants_json():
        return jsonify(error=exc.name, message=message), exc.code
    return render_template("errors/error.html", code=exc.code, message=message, title=str(exc.code)), exc.code


@bp.app_errorhandler(Exception)
def unexpected_error(exc: Exception):
    from flask import current_app

    current_app.logger.exception("unhandled error")
    db.session.rollback()
    message = _("Something went wrong on our side. Nothing was saved; please try again.")
    if wants_json():
        return jsonify(error="Internal Server Error", message=message), 500
    return render_template("errors/error.html", code=500, message=message, title="500"), 500


from flask_wtf.csrf import CSRFError  # noqa: E402


@bp.app_errorhandler(CSRFError)
def csrf_error(exc: CSRFError):
    message = _("This form has expired or was sent from elsewhere. Please reload the page and try again.")
    if wants_json():
        return jsonify(error="Bad Request", message=message), 400
    return render_template("errors/error.html", code=400, message=message, title="400"), 400
