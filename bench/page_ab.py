"""A/B of pages over HTTP: the app as of a git revision (``--base``, default ``main``) against
this working tree, each on its own gunicorn (production settings) over the same database,
requests alternating between the two (A then B, then B then A) so that both see the same
machine load — the only fair comparison on a shared machine.

    .venv/bin/python bench/page_ab.py --database-url URL [--base main] [--user quality] \\
        [--repeat 40] "/cases/?q=华东机电" "/cases/?q=浙江精密有限公司&status=closed"

The base revision is exported with ``git archive`` into a temporary directory (the database
must already be migrated to the newer of the two schemas). Prints p50/p95 per page and side.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.load import percentiles  # noqa: E402
from bench.pages import web_session  # noqa: E402
from bench.servers import WORKDIR, Proc, free_port, wait_serving  # noqa: E402


def serve(source: Path, url: str, workers: int, threads: int) -> tuple[Proc, str]:
    """Start gunicorn serving the app from ``source`` (a checkout) on ``url``; returns the process
    and its base URL (wait for it with :func:`bench.servers.wait_serving`)."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(source), "APP_ENV": "production", "DATABASE_URL": url,
           "SECRET_KEY": "bench-secret-key", "SESSION_COOKIE_SECURE": "false", "SCHEDULER_ENABLED": "false",
           "UPLOAD_DIR": str(WORKDIR / "uploads"), "AUDIT_HEAD_LOG": str(WORKDIR / "audit-heads.log")}
    args = [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}", "--timeout", "120",
            "--log-level", "warning", "-k", "gthread", "--threads", str(threads), "wsgi:app"]
    return Proc(args, env, f"page-ab-{port}", cwd=source), f"http://127.0.0.1:{port}"


def export(revision: str, into: Path) -> Path:
    archive = subprocess.run(["git", "archive", revision], cwd=ROOT, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    vendor = ROOT / "app" / "static" / "vendor"
    if vendor.exists():  # not in git: the pages link it
        (into / "app" / "static" / "vendor").symlink_to(vendor)
    subprocess.run([str(Path(sys.executable).parent / "pybabel"), "compile", "-d", str(into / "app" / "translations"),
                    "-f"], check=True, capture_output=True)
    return into


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--base", default="main")
    parser.add_argument("--user", default="quality")
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    url = args.database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    with tempfile.TemporaryDirectory(prefix="page-ab-") as tmp:
        sources = {"base": export(args.base, Path(tmp)), "new": ROOT}
        servers = {side: serve(source, url, args.workers, args.threads) for side, source in sources.items()}
        try:
            for proc, base in servers.values():
                wait_serving(proc, base)
            sessions = {side: web_session(base, args.user) for side, (_proc, base) in servers.items()}
            results: dict[str, object] = {"base": args.base, "user": args.user, "load_average": os.getloadavg()}
            for path in args.paths:
                samples: dict[str, list[float]] = {"base": [], "new": []}
                sizes = {}
                for run in range(args.repeat + 2):
                    for side in ("base", "new") if run % 2 else ("new", "base"):
                        start = time.perf_counter()
                        response = sessions[side].get(servers[side][1] + path, timeout=120)
                        took = (time.perf_counter() - start) * 1000
                        assert response.status_code == 200, (side, path, response.status_code)
                        sizes[side] = len(response.content)
                        if run >= 2:  # two warm-ups each
                            samples[side].append(took)
                row = {side: {**percentiles(values), "bytes": sizes[side]} for side, values in samples.items()}
                results[path] = row
                print(f"{path}: base {row['base']} new {row['new']}", file=sys.stderr)
            results["load_average_after"] = os.getloadavg()
        finally:
            for proc, _base in servers.values():
                proc.stop()
    print(json.dumps(results, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
