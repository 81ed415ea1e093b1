"""The server-rendered web UI: one blueprint package per concern."""

from __future__ import annotations

import importlib

from flask import Flask

from app.web.shared.display import register_template_globals

BLUEPRINTS = (
    "main", "auth", "inbox", "tasks", "cases", "admin", "public", "notifications", "calendar_admin",
    "approvals", "designer", "assessment",
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
    app.jinja_env.globals["nav_items"] = nav_items


NAV = (
    ("inbox.index", "Inbox", None),
    ("cases.new_case", "New case", None),
    ("cases.index", "Cases", None),
    ("approvals.index", "Approvals", None),
    ("assessment.index", "Weekly assessments", None),
    ("admin.users", "Administration", ("admin",)),
    ("calendar_admin.index", "Working calendar", ("admin",)),
    ("designer.index", "Process designer", ("designer", "admin")),
)


def nav_items():
    """(endpoint, translated label) for the navigation entries this user may use."""
    from flask import current_app
    from flask_babel import gettext
    from flask_login import current_user

    items = []
    for endpoint, label, roles in NAV:
        if endpoint not in current_app.view_functions:
            continue
        if roles and not current_user.has_role(*roles):
            continue
        if endpoint == "cases.new_case":
            from app.web.cases.routes import may_open_cases

            if not may_open_cases(current_user):
                continue
        if endpoint == "assessment.index":
            from app.web.assessment.routes import headed_departments, sees_everything

            if not (sees_everything(current_user) or headed_departments(current_user)):
                continue
        items.append((endpoint, gettext(label)))
    return items
