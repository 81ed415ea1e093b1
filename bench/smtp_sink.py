"""The benchmark's mail server: accepts every e-mail and keeps nothing.

    python -m bench.smtp_sink <port>

It runs in a process of its own: inside the load generator's process its work (a few hundred
e-mails a second once the outbox keeps up with the reference workload) took the interpreter
lock from the clients' threads and slowed down whatever they measured.
"""

from __future__ import annotations

import signal
import sys
import threading


class _Handler:
    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, N802 - aiosmtpd's hook name
        return "250 OK"


def main() -> int:
    from aiosmtpd.controller import Controller

    controller = Controller(_Handler(), hostname="127.0.0.1", port=int(sys.argv[1]))
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    controller.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
