"""JSON API v1 for integrations (bearer tokens), described by /api/v1/openapi.json."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

from app.api import alerts, assessments, audit, auth, cases, definitions, errors, openapi, routes, tasks  # noqa: E402,F401
