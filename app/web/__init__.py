"""The server-rendered web UI: one blueprint package per concern."""

from __future__ import annotations

from flask import Flask


def register_web(app: Flask) -> None:
    from app.web.auth.routes import bp as auth_bp
    from app.web.main.routes import bp as main_bp

    app.register_blueprint(main_bp)
    app.register_blueprint(auth_bp, url_prefix="/auth")
    for module in ("inbox", "tasks", "cases", "admin", "public", "notifications", "calendar_admin",
                   "approvals", "designer", "assessment"):
        try:
            routes = __import__(f"app.web.{module}.routes", fromlist=["bp"])
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith(f"app.web.{module}"):
                continue
            raise
        app.register_blueprint(routes.bp)
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
