"""Flask extensions and the request-scoped database session."""

from __future__ import annotations

from functools import partial
from typing import Any

from flask import Flask, current_app, g, request
from flask_babel import Babel
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm import Session

from app.data.db import Database
from app.engine import audit
from app.engine.runtime import WorkflowRuntime
from app.formkit.build import FileStore
from app.services import attachments

login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()


class FlaskDatabase:
    """Binds a :class:`Database` to the app and hands out one session per request."""

    def init_app(self, app: Flask) -> None:
        app.extensions["database"] = Database(app.config["DATABASE_URL"])
        app.teardown_appcontext(self._teardown)

    @property
    def database(self) -> Database:
        return current_app.extensions["database"]

    @property
    def session(self) -> Session:
        if "db_session" not in g:
            g.db_session = self.database.session()
        return g.db_session

    @staticmethod
    def _teardown(exc: BaseException | None) -> None:
        session: Any = g.pop("db_session", None)
        if session is not None:
            if exc is not None:
                session.rollback()
            session.close()


db = FlaskDatabase()


def runtime() -> WorkflowRuntime:
    """The engine runtime of the current app (built by the factory)."""
    return current_app.extensions["runtime"]


def lateness_basis() -> str:
    """How days late are counted where a task names no basis (``ESCALATION_LATENESS_DAYS``)."""
    return str(current_app.config.get("ESCALATION_LATENESS_DAYS", "working"))


def file_store() -> FileStore:
    """Stores an upload under the current app's ``UPLOAD_DIR`` (for completions and intakes)."""
    config = current_app.config
    return partial(attachments.store, config["UPLOAD_DIR"], max_bytes=config.get("MAX_CONTENT_LENGTH"))


def install_audit_origin(app: Flask) -> None:
    """Tell the audit writer where each request comes from: the channel (``api`` for the JSON
    API, else ``web``), the client address (behind ``TRUSTED_PROXIES`` proxies, see the factory)
    and the user agent."""

    @app.before_request
    def _set_audit_origin() -> None:
        channel = "api" if request.blueprint == "api" else "web"
        g.audit_origin_token = audit.set_origin(
            audit.Origin(channel, request.remote_addr, request.user_agent.string or None))

    @app.teardown_request
    def _clear_audit_origin(_exc: BaseException | None) -> None:
        token = g.pop("audit_origin_token", None)
        if token is not None:
            audit.reset_origin(token)
