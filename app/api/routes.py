"""API v1: health; routing errors (404/405) under /api/ answered in the documented JSON shape."""

from __future__ import annotations

from flask import jsonify, request
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import text
from werkzeug.exceptions import HTTPException, InternalServerError, MethodNotAllowed, NotFound

from app.api import bp
from app.api.auth import endpoint, header_locale
from app.api.errors import error_response
from app.extensions import db


@bp.get("/health")
@endpoint(auth=False)
def health():
    """Liveness and database reachability."""
    db.session.execute(text("SELECT 1"))
    return jsonify(status="ok")


def routing_error(exc: HTTPException):
    """Errors raised before any endpoint is chosen (no such path, method not allowed, a bad path
    character): under /api/ the documented ``{"error": …}`` in the caller's language (405 keeps
    its ``Allow`` header, which names only the methods the path really has); elsewhere werkzeug's
    own answer, as before."""
    if not request.path.startswith(bp.url_prefix or "/api/v1"):
        return exc
    with force_locale(header_locale() or "zh"):
        if isinstance(exc, MethodNotAllowed):
            return error_response(405, _("This method is not allowed here."),
                                  {"Allow": ", ".join(sorted(exc.valid_methods or ()))})
        if isinstance(exc, NotFound):
            return error_response(404, _("There is no such API endpoint."))
        if isinstance(exc, InternalServerError):
            return error_response(500, _("An unexpected error occurred."))
        return error_response(exc.code or 500, exc.description or exc.name)


@bp.record_once
def _install_routing_errors(state) -> None:
    state.app.register_error_handler(HTTPException, routing_error)
