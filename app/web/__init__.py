"""The server-rendered web UI: one blueprint package per concern."""

from __future__ import annotations

import importlib

from flask import Flask

from app.web.shared.display import register_template_globals
from app.web.shared.headers import register_security_headers
from app.web.shared.limits import register_rate_limits
from app.web.shared.long_forms import register_long_forms
from app.web.shared.navigation import register_navigation
from app.web.shared.uploads import register_uploads

BLUEPRINTS = (
    "main", "auth", "inbox", "tasks", "cases", "admin", "public", "notifications", "calendar_admin",
    "approvals", "designer", "assessment", "audit", "dashboard", "comments", "documents", "reports", "alerts",
)


def register_web(app: Flask) -> None:
    """Register every web blueprint (``app/web/<name>/routes.py`` defines ``bp``) and the
    mapping of the application's errors to pages (``app/web/errors.py``)."""
    from app.web import errors

    errors.register(app)
    for name in BLUEPRINTS:
        routes = importlib.import_module(f"app.web.{name}.routes")
        app.register_blueprint(routes.bp, url_prefix="/auth" if name == "auth" else None)
    register_template_globals(app)
    register_navigation(app)
    register_security_headers(app)
    register_rate_limits(app)
    register_uploads(app)
    register_long_forms(app)
