"""Security headers on every response: a content security policy the app's own pages satisfy
(scripts only from this site — the pages pass data to scripts in ``type="application/json"``
blocks, never inline code), no framing, no MIME sniffing, no full referrer to other sites.

A response that sets its own policy (attachments, served sandboxed) keeps it.
"""

from __future__ import annotations

from flask import Flask, Response

#: ``style-src 'unsafe-inline'``: the diagram editor (bpmn-js) positions its overlays with style
#: attributes; styles cannot run code, scripts stay restricted to this site.
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def add_security_headers(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    mimetype = response.mimetype or ""
    if mimetype == "text/html" or mimetype.startswith("image/svg"):
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    return response


def register_security_headers(app: Flask) -> None:
    app.after_request(add_security_headers)
