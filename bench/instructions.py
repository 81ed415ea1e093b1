"""Instructions per request of the app's own process, counted by callgrind: an A/B measure that
the machine's noise does not move.

    .venv/bin/python -m bench.instructions [complete|health|list] [requests]

A fresh PostgreSQL database (dropped at the end) with the reference diagram deployed; a child
process runs the production configuration under ``valgrind --tool=callgrind`` with
instrumentation off, drives the app through Flask's test client as ``bench.reference``'s clients
do (a warm-up first: parsed spec, compiled statements, pooled connections), switches
instrumentation on (``callgrind_control -i on``) for the measured requests only, and off again.
``complete`` counts per completion of the reference workload (a start by hand for every eight
completions included, as in the throughput runs), ``health`` per ``GET /api/v1/health`` (the
fixed cost of a request and a transaction), ``list`` per ``GET /api/v1/process-definitions``
with the administrator's bearer token (plus the token's read). Prints JSON: millions of instructions per request.

The count is the same from run to run of the same code (to ±0.1 %) however busy the machine
is, where CPU seconds moved by ±30 % within minutes on this project's machines: compare two
trees by running this script from each (docs/benchmarks.md, *E-mails, second cut*). It counts
the app's process only (not PostgreSQL's, not a WSGI server's) and instructions, not seconds.
Needs valgrind (Debian's ``valgrind`` package); runs in about 20 s.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

KINDS = ("complete", "health", "list")


def _toggle(state: str) -> None:
    """Switch callgrind's instrumentation of this process; busy while the command runs (the
    tool answers only while the process executes)."""
    command = subprocess.Popen(["callgrind_control", "-i", state, str(os.getpid())],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started = time.monotonic()
    while command.poll() is None and time.monotonic() - started < 60:
        sum(range(1000))


def _child(kind: str, requests: int) -> None:
    from app import create_app
    from bench.calls_per_completion import reference_driver

    client = create_app().test_client()
    run_instance = reference_driver(client, read_each=False)
    for _ in range(4):
        run_instance()
    token = client.post("/api/v1/auth/token", json={"username": "admin", "password": "demo"}).get_json()["token"]
    headers = {"Authorization": f"Bearer {token}"}

    def one() -> None:
        answer = (client.get("/api/v1/health") if kind == "health"
                  else client.get("/api/v1/process-definitions", headers=headers))
        if answer.status_code != 200:
            raise RuntimeError(answer.get_data(as_text=True))

    if kind != "complete":
        for _ in range(20):
            one()
    _toggle("on")
    if kind == "complete":
        done = sum(run_instance() for _ in range(max(1, requests // 8)))
    else:
        for _ in range(requests):
            one()
        done = requests
    _toggle("off")
    print(f"requests {done}", file=sys.stderr)


def measure(kind: str, requests: int) -> dict[str, Any]:
    from bench import reference, servers

    db = servers.Db("postgres")
    try:
        reference.deploy_into(db.url)
        with tempfile.TemporaryDirectory() as tmp:
            child = subprocess.run(
                ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={tmp}/out",
                 sys.executable, "-m", "bench.instructions", kind, str(requests), "--child"],
                env=db.env(), cwd=ROOT, capture_output=True, text=True)
    finally:
        db.drop()
    collected = re.search(r"Collected : (\d+)", child.stderr)
    done = re.search(r"requests (\d+)", child.stderr)
    if child.returncode != 0 or not collected or not done:
        raise RuntimeError(child.stderr[-3000:])
    return {"kind": kind, "requests": int(done.group(1)),
            "million_instructions_per_request": round(int(collected.group(1)) / int(done.group(1)) / 1e6, 3)}


def main() -> None:
    args = [arg for arg in sys.argv[1:] if not arg.startswith("--")]
    kind = args[0] if args else "complete"
    if kind not in KINDS:
        raise SystemExit(f"kind must be one of {', '.join(KINDS)}")
    requests = int(args[1]) if len(args) > 1 else 48
    if "--child" in sys.argv:  # under valgrind: the configuration comes from the environment
        _child(kind, requests)
        return
    print(json.dumps(measure(kind, requests), indent=1))


if __name__ == "__main__":
    main()
