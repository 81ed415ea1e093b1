"""The server-rendered web UI: one blueprint package per concern."""

from __future__ import annotations

import importlib

from flask import Flask

from app.services import policy
from app.web.shared.display import register_template_globals

BLUEPRINTS = (
    "main", "auth", "inbox", "tasks", "cases", "admin", "public", "notifications", "calendar_admin",
    "approvals", "designer", "assessment", "audit",
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


def _approvals(user) -> bool:
    from app.extensions import db
    from app.services.approvals import may_use

    return may_use(db.session, user)


#: (endpoint, label, who sees the entry: a predicate of app.services.policy, or None for everyone)
NAV = (
    ("inbox.index", "Inbox", None),
    ("cases.new_case", "New case", policy.may_open_case),
    ("cases.index", "Cases", policy.may_list_cases),
    ("approvals.index", "Approvals", _approvals),
    ("assessment.index", "Weekly assessments", policy.may_read_assessments),
    ("admin.users", "Administration", policy.may_administer),
    ("calendar_admin.index", "Working calendar", policy.may_administer),
    ("designer.index", "Process designer", policy.may_design),
    ("audit.index", "Audit trail", policy.may_explore_audit),
)


def nav_items():
    """(endpoint, translated label) for the navigation entries this user may use."""
    from flask import current_app
    from flask_babel import gettext
    from flask_login import current_user

    return [(endpoint, gettext(label)) for endpoint, label, allowed in NAV
            if endpoint in current_app.view_functions and (allowed is None or allowed(current_user))]
