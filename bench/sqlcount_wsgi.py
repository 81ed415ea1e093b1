"""The production app with a count of SQL statements per request, for the benchmark only:
``BENCH_COUNT_SQL=<file> gunicorn bench.sqlcount_wsgi:app`` appends ``METHOD path count`` per
request. Nothing of this is imported by the application itself."""

from __future__ import annotations

import os
import threading

from sqlalchemy import event

from app import create_app

app = create_app()
_counter = threading.local()
_out = open(os.environ["BENCH_COUNT_SQL"], "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - lives with the process
_lock = threading.Lock()


@event.listens_for(app.extensions["database"].engine, "before_cursor_execute")
def _count(*_args) -> None:
    _counter.n = getattr(_counter, "n", 0) + 1


def _counting(wsgi):
    def middleware(environ, start_response):
        _counter.n = 0
        try:
            return list(wsgi(environ, start_response))
        finally:
            with _lock:
                _out.write(f"{environ['REQUEST_METHOD']} {environ.get('PATH_INFO', '')} {_counter.n}\n")

    return middleware


app.wsgi_app = _counting(app.wsgi_app)  # type: ignore[method-assign]
