"""A lean HTTP/1.1 client for the load generator: one kept-alive connection per client, JSON in
and out. The load generator runs on the machine it measures, so its CPU is taken from the app's:
``requests`` spent ~1 ms of Python per request (sessions, adapters, cookie jars, header merging),
this ~0.3 ms."""

from __future__ import annotations

import http.client
import json as jsonlib
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

#: gunicorn closes a kept-alive connection idle for 2 s (its ``keepalive``): reconnect before that
IDLE_RECONNECT_S = 1.0


class Response:
    """What the bench reads of an answer."""

    def __init__(self, status_code: int, body: bytes, headers: dict[str, str]) -> None:
        self.status_code = status_code
        self.content = body
        self.headers = headers

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return jsonlib.loads(self.content)

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise RuntimeError(f"HTTP {self.status_code}: {self.text[:300]}")


class Http:
    """One connection to ``base``; ``request`` sends JSON bodies and query parameters."""

    def __init__(self, base: str, timeout: float = 120) -> None:
        parts = urlsplit(base)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.timeout = timeout
        self.conn: http.client.HTTPConnection | None = None
        self.used = 0.0

    def _connection(self) -> http.client.HTTPConnection:
        if self.conn is not None and time.monotonic() - self.used > IDLE_RECONNECT_S:
            self.conn.close()  # the server may be closing it: don't race its keep-alive timeout
            self.conn = None
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self.conn

    def request(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None,
                headers: dict[str, str] | None = None) -> Response:
        if params:
            path = f"{path}?{urlencode(params)}"
        sent = dict(headers or {})
        body = None
        if json is not None:
            body = jsonlib.dumps(json).encode()
            sent["Content-Type"] = "application/json"
        conn = self._connection()
        try:
            conn.request(method, path, body=body, headers=sent)
            answer = conn.getresponse()
            content = answer.read()
        except (http.client.HTTPException, OSError):
            conn.close()
            self.conn = None
            raise
        self.used = time.monotonic()
        if answer.will_close:
            conn.close()
            self.conn = None
        return Response(answer.status, content, dict(answer.getheaders()))

    def post(self, path: str, **kwargs: Any) -> Response:
        return self.request("POST", path, **kwargs)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
