"""Sign in and sign out."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from app.extensions import db
from app.services import accounts
from app.services.accounts import authenticate
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
    if form.validate_on_submit():
        user = authenticate(db.session, form.username.data, form.password.data)
        if user is None:
            flash(_("Wrong username or password."), "danger")
        else:
            db.session.commit()
            login_user(user, remember=form.remember_me.data)
            return redirect(_safe_next(request.args.get("next")))
    return render_template("auth/login.html", form=form, title=_("Sign in"))


@bp.route("/logout", methods=["POST"])
def logout():
    if current_user.is_authenticated:  # ends this user's sessions everywhere, not just this cookie
        accounts.end_sessions(db.session, current_user)
        db.session.commit()
    logout_user()
    flash(_("You have been signed out."), "info")
    return redirect(url_for("auth.login"))
