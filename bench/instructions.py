"""Instructions per request of the app's own process, counted by callgrind: an A/B measure that
the machine's noise does not move.

    .venv/bin/python -m bench.instructions [complete|health|list] [requests] [--step module:attribute ...]

A fresh PostgreSQL database (dropped at the end) with the reference diagram deployed; a child
process runs the production configuration under ``valgrind --tool=callgrind`` with collection
off, drives the app through Flask's test client as ``bench.reference``'s clients do (a warm-up
first: parsed spec, compiled statements, pooled connections), and collects only during the
measured requests (a client request, ``CALLGRIND_TOGGLE_COLLECT``, from a three-line C helper
compiled at run time). ``complete`` counts per completion of the reference workload (a start by
hand for every eight completions included, as in the throughput runs), ``health`` per
``GET /api/v1/health`` (the fixed cost of a request and a transaction), ``list`` per
``GET /api/v1/process-definitions`` with the administrator's bearer token (plus the token's read).

``--step module:attribute`` (e.g. ``app.services.accounts:user_for_token`` or
``app.engine.runtime:WorkflowRuntime._lock``) collects only inside that callable (its outermost
calls, everything it calls included) during the measured requests: the step's share of the
request, one valgrind run per step. A module-level function is replaced where it is defined and
in every ``app`` module that imported it by name; a view function registered before the wrap is
not reached (wrap what it calls).

The count is the same from run to run of the same code (within about 1 %) however busy the machine
is, where CPU seconds moved by ±30 % within minutes on this project's machines: compare two
trees by running this script from each (docs/benchmarks.md, *E-mails, second cut*). It counts
the app's process only (not PostgreSQL's, not a WSGI server's) and instructions, not seconds.
Needs valgrind with its headers (Debian's ``valgrind`` package) and a C compiler; about 40 s a run.
"""

from __future__ import annotations

import argparse
import ctypes
import functools
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.completion_budget import replace_step  # noqa: E402

KINDS = ("complete", "health", "list")


_HELPER = """#include <valgrind/callgrind.h>
void toggle_collect(void) { CALLGRIND_TOGGLE_COLLECT; }
"""


def _compile_helper(folder: str) -> str:
    """The shared library whose one function switches callgrind's collection."""
    source, library = Path(folder) / "toggle.c", Path(folder) / "libtoggle.so"
    source.write_text(_HELPER)
    built = subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", str(library), str(source)],
                           capture_output=True, text=True)
    if built.returncode != 0:
        raise SystemExit(f"cannot build the callgrind helper (valgrind's headers and a C compiler): {built.stderr}")
    return str(library)


def _wrap_step(step: str, toggle: Callable[[], None], measuring: list[bool]) -> None:
    """Collect inside ``step`` (``module:attribute``) while ``measuring[0]``, outermost calls only."""
    module_name, _sep, path = step.partition(":")

    def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
        depth = [0]

        @functools.wraps(original)
        def collected(*args: Any, **kwargs: Any) -> Any:
            outermost = measuring[0] and depth[0] == 0
            depth[0] += 1
            if outermost:
                toggle()
            try:
                return original(*args, **kwargs)
            finally:
                if outermost:
                    toggle()
                depth[0] -= 1

        return collected

    replace_step(module_name, path, wrap)


def _child(kind: str, requests: int, step: str | None, library: str) -> None:
    toggle = ctypes.CDLL(library).toggle_collect
    measuring = [False]
    if step:
        _wrap_step(step, toggle, measuring)  # before the app is built: its blueprints import some steps
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
    measuring[0] = True
    if not step:
        toggle()
    if kind == "complete":
        done = sum(run_instance() for _ in range(max(1, requests // 8)))
    else:
        for _ in range(requests):
            one()
        done = requests
    if not step:
        toggle()
    print(f"requests {done}", file=sys.stderr)


def measure(kind: str, requests: int, steps: Sequence[str | None] = (None,)) -> list[dict[str, Any]]:
    """One valgrind run per step (None: the whole request)."""
    from bench import reference, servers

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        library = _compile_helper(tmp)
        db = servers.Db("postgres")
        try:
            reference.deploy_into(db.url)
            for step in steps:
                child = subprocess.run(
                    ["valgrind", "--tool=callgrind", "--collect-atstart=no", f"--callgrind-out-file={tmp}/out",
                     sys.executable, "-m", "bench.instructions", kind, str(requests), "--child", library,
                     *(["--step", step] if step else [])],
                    env=db.env(), cwd=ROOT, capture_output=True, text=True)
                collected = re.search(r"Collected : (\d+)", child.stderr)
                done = re.search(r"requests (\d+)", child.stderr)
                if child.returncode != 0 or not collected or not done:
                    raise RuntimeError(child.stderr[-3000:])
                out.append({"kind": kind, "step": step, "requests": int(done.group(1)),
                            "million_instructions_per_request": round(
                                int(collected.group(1)) / int(done.group(1)) / 1e6, 3)})
        finally:
            db.drop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", nargs="?", default="complete", choices=KINDS)
    parser.add_argument("requests", nargs="?", type=int, default=48)
    parser.add_argument("--step", action="append", help="module:attribute; repeat for several (one run each)")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # under valgrind: the helper library's path
    args = parser.parse_args()
    if args.child:  # the configuration comes from the environment
        _child(args.kind, args.requests, (args.step or [None])[0], args.child)
        return
    print(json.dumps(measure(args.kind, args.requests, args.step or [None]), indent=1))


if __name__ == "__main__":
    main()
