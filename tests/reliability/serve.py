"""Serve the app in its own OS process for the torture and crash tests (threaded werkzeug,
the test configuration on ``DATABASE_URL``); ``python -m tests.reliability.serve PORT``.

Also ``python -m tests.reliability.serve --timers SECONDS``: fire due timers with the scheduler's
timer loop (``app.scheduler.timers.TimerLoop``, its worker threads) until the time is up.
"""

from __future__ import annotations

import os
import sys
import time


def make_app():
    from app import create_app
    from config import TestConfig

    class Cfg(TestConfig):
        DATABASE_URL = os.environ["DATABASE_URL"]
        BPMN_DIR = os.environ["BPMN_DIR"]
        FORMS_DIR = os.environ["FORMS_DIR"]
        UPLOAD_DIR = os.environ["UPLOAD_DIR"]
        LOGIN_LOCK_AFTER = 1_000_000

    return create_app(Cfg)


def serve(port: int) -> None:
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", port, make_app(), threaded=True)
    print(f"serving on {port}", flush=True)
    server.serve_forever()


def fire_timers(seconds: float) -> None:
    from app.scheduler.timers import TimerLoop

    app = make_app()
    loop = TimerLoop(app.extensions["database"], app.extensions["runtime"], app, poll_seconds=0.05)
    loop.start()
    time.sleep(seconds)
    loop.stop()
    print("stopped", flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "--timers":
        fire_timers(float(sys.argv[2]))
    else:
        serve(int(sys.argv[1]))
