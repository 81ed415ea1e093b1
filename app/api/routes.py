"""API v1: health, and a JSON 404/405 for any other path under /api/v1."""

from __future__ import annotations

from flask import current_app, jsonify, request
from flask_babel import gettext as _
from sqlalchemy import text
from werkzeug.exceptions import HTTPException

from app.api import bp
from app.api.auth import endpoint
from app.api.errors import ApiError
from app.extensions import db

CATCH_ALL = "api.unknown_endpoint"
ANY_METHOD = ["GET", "POST", "PUT", "PATCH", "DELETE"]


@bp.get("/health")
@endpoint(auth=False)
def health():
    """Liveness and database reachability."""
    db.session.execute(text("SELECT 1"))
    return jsonify(status="ok")


@bp.route("/", methods=ANY_METHOD, defaults={"rest": ""})
@bp.route("/<path:rest>", methods=ANY_METHOD)
@endpoint(auth=False)
def unknown_endpoint(rest: str):
    """Paths that match no endpoint: 405 when the path exists for other methods, else 404."""
    adapter = current_app.url_map.bind("")
    allowed = []
    for method in ANY_METHOD:
        try:
            endpoint_name, _args = adapter.match(request.path, method=method)
        except HTTPException:
            continue
        if endpoint_name != CATCH_ALL:
            allowed.append(method)
    if allowed:
        raise ApiError(405, _("This method is not allowed here."), headers={"Allow": ", ".join(allowed)})
    raise ApiError(404, _("There is no such API endpoint."))
