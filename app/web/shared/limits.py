"""Rate limits of the endpoints anyone can reach, per client address (the real one behind the
configured proxies, see ``TRUSTED_PROXIES``): counted in the database by
:mod:`app.services.ratelimit`, so all worker processes share the count.

Signed-in staff pages are not limited here; sign-in itself is also throttled per account
(:mod:`app.services.signin`), public links per wrong guess (``public_link_miss``).
"""

from __future__ import annotations

from datetime import timedelta

from flask import Flask, current_app, jsonify, render_template, request
from flask_babel import gettext as _

from app.extensions import db
from app.services import ratelimit

#: endpoints reachable without signing in (the API's health check is left to monitors)
PUBLIC_ENDPOINTS = frozenset({
    "public.feedback", "public.received", "public.status", "public.survey", "auth.login",
    "api.issue_token", "api.openapi_json", "main.set_language",
})
REQUEST_BUCKET = "public_request"
REQUEST_WINDOW = timedelta(minutes=1)


def client_address() -> str:
    return (request.remote_addr or "unknown")[: ratelimit.CLIENT_LENGTH]


def too_many_response(retry_after: int):
    """429 in the shape the caller expects: the API's JSON error, else a page."""
    message = _("Too many requests. Please wait a moment and try again.")
    if request.path.startswith("/api/"):
        response = jsonify({"error": {"status": 429, "message": message, "code": "too_many_requests"}})
    else:
        response = current_app.make_response(render_template(
            "errors/error.html", code=429, message=message, title="429"))
    response.status_code = 429
    response.headers["Retry-After"] = str(retry_after)
    return response


def limit_public_requests():
    """Before a request to a public endpoint: count it; 429 beyond PUBLIC_REQUEST_LIMIT a minute."""
    if request.endpoint not in PUBLIC_ENDPOINTS:
        return None
    limit = int(current_app.config.get("PUBLIC_REQUEST_LIMIT", 120))
    client = client_address()
    if not ratelimit.allow(db.session, REQUEST_BUCKET, client, limit, REQUEST_WINDOW):
        db.session.rollback()
        return too_many_response(ratelimit.retry_after(db.session, REQUEST_BUCKET, client, REQUEST_WINDOW))
    db.session.commit()  # counted even when the request itself fails later
    return None


def register_rate_limits(app: Flask) -> None:
    app.before_request(limit_public_requests)
