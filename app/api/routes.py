"""API v1 endpoints (health for now; the rest is added per resource)."""

from __future__ import annotations

from flask import jsonify
from sqlalchemy import text

from app.api import bp
from app.extensions import db


@bp.get("/health")
def health():
    """Liveness and database reachability."""
    db.session.execute(text("SELECT 1"))
    return jsonify(status="ok")
