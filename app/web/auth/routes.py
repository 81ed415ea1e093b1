"""Sign in and sign out."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from app.extensions import db
from app.services import accounts, signin
from app.services.errors import TooManyRequests
from app.web.auth.forms import LoginForm

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    if not target:
        return url_for("main.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/"):
        return url_for("main.index")
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = signin.sign_in(db.session, form.username.data, form.password.data, request.remote_addr or "",
                                  signin.Throttle.from_config(current_app.config))
        except TooManyRequests as exc:  # throttled: the password was not checked
            db.session.rollback()
            flash(_(exc.message, **exc.details), "danger")
            return render_template("auth/login.html", form=form, title=_("Sign in")), 429
        db.session.commit()  # the login or the failed attempt is audited (and counted) either way
        if user is None:
            flash(_("Wrong username or password."), "danger")
        else:
            login_user(user, remember=form.remember_me.data)
            return redirect(_safe_next(request.args.get("next")))
    return render_template("auth/login.html", form=form, title=_("Sign in")), status


@bp.route("/logout", methods=["POST"])
def logout():
    if current_user.is_authenticated:  # ends this user's sessions everywhere, not just this cookie
        accounts.record_logout(db.session, current_user)
        accounts.end_sessions(db.session, current_user)
        db.session.commit()
    logout_user()
    flash(_("You have been signed out."), "info")
    return redirect(url_for("auth.login"))
