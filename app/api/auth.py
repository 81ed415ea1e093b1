"""Bearer-token authentication, the request language, and JSON body parsing for the API.

Every endpoint is wrapped in :func:`endpoint`: it picks the language (``Accept-Language``,
else the caller's own locale, else Chinese), loads the token's user into ``flask.g`` and
turns any error raised by the view into the JSON error of :mod:`app.api.errors` — still
in the request's language.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import wraps
from typing import Any

from babel import Locale
from flask import current_app, g, jsonify, request
from flask_babel import force_locale
from flask_babel import gettext as _

from app.api import bp
from app.api.errors import ApiError
from app.data.models import User
from app.extensions import db
from app.services import accounts, signin

LOCALES = ("zh", "en")
MAX_TOKEN_LENGTH = 256
MAX_CREDENTIAL_LENGTH = 1024
DEFAULT_MAX_BODY = 1024 * 1024
#: largest value of an INTEGER primary key (PostgreSQL refuses anything bigger)
MAX_ID = 2**31 - 1
TASK_ID_RE = re.compile(r"^[0-9A-Za-z-]{1,36}$")
#: the languages parsed once: force_locale parses a code anew on every call, twice a request
_PARSED = {code: Locale.parse(code) for code in LOCALES}


def header_locale() -> str | None:
    """The language the client asks for in ``Accept-Language`` (zh or en), if any."""
    if not request.accept_languages:
        return None
    return request.accept_languages.best_match(LOCALES)


def api_user() -> User:
    """The authenticated caller (only inside an endpoint with ``auth=True``)."""
    return g.api_user


def api_locale() -> str:
    return g.get("api_locale", "zh")


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, message, headers={"WWW-Authenticate": 'Bearer realm="api"'})


def _bearer_user() -> User:
    header = request.headers.get("Authorization", "")
    scheme, _sep, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise _unauthorized(_("Authentication required: send Authorization: Bearer <token>."))
    user = None
    if len(token) <= MAX_TOKEN_LENGTH and "\x00" not in token:
        user = accounts.user_for_token(db.session, token)
    if user is None:
        raise _unauthorized(_("The token is invalid or has expired."))
    return user


def endpoint(auth: bool = True) -> Callable:
    """Decorate an API view: language, bearer authentication and JSON errors."""

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(**kwargs: Any):
            asked = header_locale()
            with force_locale(_PARSED[asked or "zh"]):
                try:
                    user = _bearer_user() if auth else None
                except Exception as exc:  # noqa: BLE001 - answered by the blueprint's handlers
                    return current_app.handle_user_exception(exc)
            locale = asked or (user.locale if user is not None and user.locale in LOCALES else "zh")
            g.api_user = user
            g.api_locale = g.locale = locale
            with force_locale(_PARSED[locale]):
                try:
                    return view(**kwargs)
                except Exception as exc:  # noqa: BLE001 - answered by the blueprint's handlers
                    return current_app.handle_user_exception(exc)

        return wrapper

    return decorate


# ---------------------------------------------------------------------------- request bodies


def _has_nul(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _parse_json(raw: bytes) -> Any:
    """JSON text: 400 when it is not JSON, empty, or holds NUL characters."""
    try:
        body = json.loads(raw.decode("utf-8")) if raw.strip() else None
    except (ValueError, RecursionError):
        raise ApiError(400, _("The request body is not valid JSON.")) from None
    if body is None:
        raise ApiError(400, _("A JSON request body is required."))
    if _has_nul(body):
        raise ApiError(400, _("The request body must not contain NUL characters."))
    return body


def json_body() -> dict[str, Any]:
    """The request body as a JSON object: 413 when too large, 400 when not JSON, 422 when not an object."""
    limit = int(current_app.config.get("API_MAX_BODY_BYTES", DEFAULT_MAX_BODY))
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, _("The request body is too large."))
    raw = request.get_data(cache=True)
    if len(raw) > limit:
        raise ApiError(413, _("The request body is too large."))
    body = _parse_json(raw)
    if not isinstance(body, dict):
        raise ApiError(422, _("The request body must be a JSON object."), fields={})
    return body


def multipart_body(json_parts: tuple[str, ...]) -> tuple[dict[str, Any], Any]:
    """A multipart/form-data request as the JSON object it stands for — each text part a key,
    the parts named in ``json_parts`` holding JSON text — and its files by part name (the
    size limit is the uploads' MAX_CONTENT_LENGTH: 413 beyond it)."""
    body: dict[str, Any] = {name: request.form[name] for name in request.form}
    if _has_nul(body):
        raise ApiError(400, _("The request body must not contain NUL characters."))
    for name in json_parts:
        if name in body:
            body[name] = _parse_json(body[name].encode("utf-8"))
    return body, request.files


def validation_error(errors: dict[str, list[str]]) -> ApiError:
    """422 with the per-field messages (translated when they are catalogue msgids)."""
    fields = {name: [_(message) for message in messages] for name, messages in errors.items()}
    return ApiError(422, _("The data is not valid."), fields=fields)


def page_args(default_limit: int, max_limit: int) -> tuple[int, int]:
    """``limit`` and ``offset`` of a list request, or a 400 saying what is wrong."""
    try:
        limit = int(request.args.get("limit", default_limit))
        offset = int(request.args.get("offset", 0))
    except ValueError:
        raise ApiError(400, _("limit and offset must be whole numbers.")) from None
    if not (1 <= limit <= max_limit) or not (0 <= offset <= 10**9):
        raise ApiError(400, _("limit must be between 1 and %(n)d and offset must not be negative.", n=max_limit))
    return limit, offset


def int_id(value: Any) -> int | None:
    """A positive database id from a path or query value, else None."""
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 10:
        number = int(value)
    else:
        return None
    return number if 0 < number <= MAX_ID else None


def valid_task_id(task_id: str) -> bool:
    return bool(TASK_ID_RE.match(task_id))


def iso(value: datetime | date | None) -> str | None:
    """ISO 8601; instants in UTC with a ``Z``."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return value.isoformat()


# ---------------------------------------------------------------------------- POST /auth/token


@bp.post("/auth/token")
@endpoint(auth=False)
def issue_token():
    """Exchange a username and password for a bearer token."""
    body = json_body()
    errors: dict[str, list[str]] = {}
    for name in ("username", "password"):
        value = body.get(name)
        if not isinstance(value, str) or not value:
            errors[name] = [_("A non-empty string is required.")]
    if errors:
        raise validation_error(errors)
    username, password = body["username"], body["password"]
    user = None
    if len(username) <= MAX_CREDENTIAL_LENGTH and len(password) <= MAX_CREDENTIAL_LENGTH:
        user = signin.sign_in(db.session, username, password, request.remote_addr or "",
                              signin.Throttle.from_config(current_app.config), purpose="API token")
    else:
        accounts.record_failed_login(db.session, None, username, "credentials too long", "API token")
    if user is None:
        db.session.commit()  # the failed attempt stays in the audit trail
        raise _unauthorized(_("Wrong username or password."))
    token, row = accounts.issue_token(db.session, user, int(current_app.config.get("API_TOKEN_TTL_HOURS", 12)))
    db.session.commit()
    body = {"token": token, "token_type": "Bearer", "expires_at": iso(row.expires_at), "username": user.username}
    return jsonify(body)
