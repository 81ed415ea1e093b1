"""JSON errors: every failure answers with a message, never an HTML page or a bare 500."""

from __future__ import annotations

import logging
from typing import Any

from flask import jsonify
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException, InternalServerError

from app.api import bp
from app.engine.errors import (
    ConcurrentUpdate,
    DefinitionError,
    InstanceNotRunning,
    NotFound,
    TaskNotOpen,
    UnsupportedSaveFormat,
)
from app.errors import AppError
from app.extensions import db
from app.services.errors import Forbidden, TooManyRequests

log = logging.getLogger(__name__)

STATUS = {
    NotFound: 404,
    Forbidden: 403,
    TaskNotOpen: 409,
    ConcurrentUpdate: 409,
    InstanceNotRunning: 409,
    UnsupportedSaveFormat: 409,
    DefinitionError: 422,
    TooManyRequests: 429,
}


class ApiError(Exception):
    """An error answered as ``{"error": {"status", "message", **extra}}``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.extra = extra


def error_response(status: int, message: str, headers: dict[str, str] | None = None, **extra: Any):
    body = {"error": {"status": status, "message": message, **extra}}
    response = jsonify(body)
    response.status_code = status
    response.headers.update(headers or {})
    return response


def _rollback() -> None:
    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001 - a failed rollback must not hide the original error
        log.exception("rollback failed")


@bp.errorhandler(ApiError)
def api_error(exc: ApiError):
    _rollback()
    return error_response(exc.status, exc.message, exc.headers, **exc.extra)


@bp.errorhandler(AppError)
def app_error(exc: AppError):
    _rollback()
    status = next((code for cls, code in STATUS.items() if isinstance(exc, cls)), 400)
    extra: dict[str, Any] = {"code": exc.code}
    if isinstance(exc, DefinitionError):
        extra["problems"] = [p.as_dict(_) for p in exc.problems]
        return error_response(status, _("The process definition is invalid."), **extra)
    if isinstance(exc, TooManyRequests):
        return error_response(status, _(exc.message, **exc.details), {"Retry-After": str(exc.details["retry_after"])},
                              **extra)
    return error_response(status, _(exc.message), **extra)


@bp.errorhandler(HTTPException)
def http_error(exc: HTTPException):
    _rollback()
    if isinstance(exc, InternalServerError):
        return error_response(500, _("An unexpected error occurred."))
    return error_response(exc.code or 500, exc.description or exc.name)
