"""One mapping of the application's errors to web responses, like the API's status table
(``app/api/errors.py``), so views call a service and let its errors through.

- not found → the 404 page; forbidden → the 403 page with the reason;
- a conflict (the task was claimed, completed or changed by someone else, the process is no
  longer running) or any other refusal → the message as a flash and a redirect back: to the
  form's ``next``, else the referring page of this app, else the inbox. A GET has nowhere to
  go back to, so it gets the error page with the message (409 or 400) instead.

Every handler rolls the request's transaction back first (the session is closed at teardown
anyway; rolling back here lets the error page itself use the session). Requests asking for
JSON get JSON. Views that show a form again with its errors (422) still do that themselves,
and the customer pages (``public``) keep their own friendly pages (see there).
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import Flask, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _

from app.engine.errors import ConcurrentUpdate, InstanceNotRunning, NotFound, TaskNotOpen
from app.errors import AppError
from app.extensions import db
from app.i18n import N_
from app.services.errors import Forbidden

log = logging.getLogger(__name__)

#: errors that mean "someone or something else got there first" (409 on the API)
CONFLICTS = (TaskNotOpen, ConcurrentUpdate, InstanceNotRunning)
#: what the web says for engine conflicts, whose own messages are terse
MESSAGES = {
    ConcurrentUpdate: N_("Someone else changed this case at the same moment. Nothing was saved; please submit again."),
    InstanceNotRunning: N_("The process of this task is no longer running. Nothing was saved."),
}


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def local_url(target: str | None) -> str | None:
    """``target`` if it is a path on this site (never another host), else None."""
    if not target:
        return None
    if target.startswith(request.host_url):
        target = "/" + target[len(request.host_url):]
    parts = urlsplit(target)
    if target.startswith("/") and not target.startswith(("//", "/\\")) and not parts.scheme and not parts.netloc:
        return target
    return None


def back() -> str:
    """Where a refused form submission returns: its ``next``, the page it came from, the inbox."""
    return local_url(request.form.get("next")) or local_url(request.referrer) or url_for("inbox.index")


def rollback() -> None:
    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001 - a failed rollback must not hide the original error
        log.exception("rollback failed")


def _message(exc: AppError) -> str:
    for cls, message in MESSAGES.items():
        if isinstance(exc, cls):
            return _(message)
    return _(exc.message)


def _page(status: int, message: str):
    if wants_json():
        return jsonify(error=str(status), message=message), status
    return render_template("errors/error.html", code=status, message=message, title=str(status)), status


def not_found(_exc: NotFound):
    rollback()
    return _page(404, _("The page you asked for does not exist."))


def forbidden(exc: Forbidden):
    rollback()
    return _page(403, _(exc.message))


def refused(exc: AppError):
    """Conflicts and every other expected refusal."""
    rollback()
    status = 409 if isinstance(exc, CONFLICTS) else 400
    message = _message(exc)
    if request.method in ("GET", "HEAD") or wants_json():
        return _page(status, message)
    flash(message, "warning")
    return redirect(back())


def register(app: Flask) -> None:
    app.register_error_handler(NotFound, not_found)
    app.register_error_handler(Forbidden, forbidden)
    app.register_error_handler(AppError, refused)
