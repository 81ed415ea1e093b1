"""JSON API v1 for integrations (bearer tokens), described by /api/v1/openapi.json."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

from app.api import (  # noqa: E402,F401,I001
    alerts, assessments, audit, auth, cases, comments, definitions, documents, errors, openapi, reports, routes,
    tasks,
)
