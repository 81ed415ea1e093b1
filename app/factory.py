"""The application factory: configuration, extensions, engine runtime, blueprints."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, g, request, session
from flask_babel import get_locale
from flask_login import current_user
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from app.clock import set_local_zone
from app.engine import limits
from app.engine.runtime import WorkflowRuntime
from app.extensions import babel, csrf, db, install_audit_origin, login_manager
from app.services.cases import case_projection_hook
from config import DEV_SECRET_KEY, config_from_env


def select_locale() -> str:
    """The user's chosen language; else the session's; else Chinese."""
    if current_user and getattr(current_user, "is_authenticated", False):
        return current_user.locale
    chosen = session.get("locale")
    if chosen in ("zh", "en"):
        return chosen
    return "zh"


def select_timezone() -> str | None:
    """The user's time zone; else (``None``) the configured one, BABEL_DEFAULT_TIMEZONE."""
    if current_user and getattr(current_user, "is_authenticated", False):
        return current_user.timezone
    return None


class DatabaseIdConverter(IntegerConverter):
    """``<int:…>`` in a URL: a number larger than the database's integer columns hold is no id
    (404), not a database error (PostgreSQL refuses it; SQLite would not notice)."""

    def __init__(self, url_map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(url_map, *args, **kwargs)


def build_app(config: Any = None) -> Flask:
    """Create and configure the Flask application."""
    app = Flask(__name__, instance_relative_config=True)
    app.url_map.converters["int"] = DatabaseIdConverter
    app.config.from_object(config or config_from_env())
    if isinstance(config, dict):
        app.config.update(config)
    if app.config.get("ENV_NAME") == "production" and app.config["SECRET_KEY"] == DEV_SECRET_KEY:
        raise RuntimeError("Refusing to start in production with the default SECRET_KEY; set SECRET_KEY.")
    # One time zone for the whole process: the engine and services read it from app.clock.
    app.config["BABEL_DEFAULT_TIMEZONE"] = set_local_zone(app.config["TIMEZONE"]).key
    logging.basicConfig(level=logging.INFO if not app.config.get("TESTING") else logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # it logs every 1 s poll at INFO
    if app.config.get("ENGINE_LOG_LEVEL"):  # SpiffWorkflow logs every task state change at INFO
        for name in ("spiff", "spiff.workflow", "spiff.task"):
            logging.getLogger(name).setLevel(app.config["ENGINE_LOG_LEVEL"])

    proxies = int(app.config.get("TRUSTED_PROXIES") or 0)
    if proxies > 0:  # the client address, scheme and host as the trusted proxies saw them
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)  # type: ignore[method-assign]
    db.init_app(app)
    install_audit_origin(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None

    from app.engine.calendar import days_late_helper
    from app.services.analytics.projection import analytics_hook
    from app.services.approvals import facts_hook as approval_facts_hook
    from app.services.assessment_math import DIAGRAM_HELPERS as ASSESSMENT_HELPERS
    from app.services.assessment_weeks import week_hook as assessment_week_hook
    from app.services.case_search import search_hook
    from app.services.customer_mail import customer_mail_hook
    from app.services.escalation import lateness_hook, settings_from_config
    from app.services.notifications import notification_hook

    ladder = settings_from_config(app.config)
    limits.configure(app.config["MAX_MULTI_INSTANCE"], app.config["SCRIPT_CPU_BUDGET_SECONDS"])
    app.extensions["runtime"] = WorkflowRuntime(
        # the approval items' facts first: on rows not written yet, before a hook's query flushes them
        hooks=[approval_facts_hook, case_projection_hook, analytics_hook, search_hook, customer_mail_hook(app),
               lateness_hook(ladder), notification_hook(app), assessment_week_hook],
        script_cpu_limit=app.config["SCRIPT_CPU_LIMIT_SECONDS"],
        # diagrams count days late in the basis the ESCALATION_LATENESS_DAYS setting names; the
        # weekly assessment computes its money with the Decimal arithmetic of assessment_math
        extra_helpers={"days_late": days_late_helper(ladder.lateness_days), **ASSESSMENT_HELPERS},
    )

    @login_manager.user_loader
    def load_user(login_id: str):
        from app.services.accounts import user_for_login_id

        return user_for_login_id(db.session, login_id)

    @app.before_request
    def remember_locale() -> None:
        # An API request's language is chosen by its endpoint wrapper (app.api.auth), which
        # sets g.locale itself: choosing it here too would load the session's user for nothing.
        if request.blueprint == "api":
            return
        g.locale = str(get_locale())

    from app.web import register_web

    register_web(app)
    from app.api import bp as api_bp

    csrf.exempt(api_bp)
    app.register_blueprint(api_bp)

    from app.cli import register_cli

    register_cli(app)
    if app.config.get("SCHEDULER_ENABLED") and not app.config.get("TESTING"):
        from app.scheduler import start_leased

        start_leased(app)  # runs the jobs while this process holds the scheduler lease
    return app


__all__ = ["build_app"]
