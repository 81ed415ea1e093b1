"""Fresh databases, gunicorn app servers and scheduler processes for the benchmark, each a
subprocess with the production configuration (APP_ENV=production)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
import requests

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN = os.environ.get("BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
#: gunicorn as README's "Several servers" recommends: two workers per core, two threads each —
#: measured against 2 × 4 on the reference workload (docs/benchmarks.md, "third round")
WORKERS = int(os.environ.get("BENCH_WORKERS", "4"))
THREADS = int(os.environ.get("BENCH_THREADS", "2"))
WORKDIR = Path(tempfile.mkdtemp(prefix="bench-"))


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (all its threads) so far, from /proc; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def backend_pids(db: Db) -> list[int]:
    """The PostgreSQL backends connected to ``db`` (their CPU: :func:`cpu_seconds`)."""
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        return [row[0] for row in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (db.name,))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare(url: str) -> None:
    """Migrate, deploy bpmn/ and forms/, create the demo organisation (as make run does).

    The demo passwords are hashed at a low argon2 cost so that setting up is quick on a busy
    machine; sign-ins happen before any clock starts and are not among the figures."""
    from app.data.db import Database
    from app.data.migrate import upgrade
    from app.services.accounts import set_hash_cost
    from app.services.setup import deploy_folder, ensure_departments, seed_demo

    upgrade(url)
    set_hash_cost(time_cost=1, memory_cost=1024)
    database = Database(url)
    try:
        with database.transaction() as session:
            ensure_departments(session)
            deploy_folder(session, ROOT / "bpmn", ROOT / "forms")
            seed_demo(session)
    finally:
        database.dispose()


class Db:
    """A fresh database (SQLite file or PostgreSQL database), migrated, diagrams deployed, demo users."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        if backend == "postgres":
            self.name = f"benchdb_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{self.name}"')
            self.url = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{self.name}"
        else:
            self.name = str(WORKDIR / f"bench-{uuid.uuid4().hex[:8]}.db")
            self.url = f"sqlite:///{self.name}"
        self.uploads = WORKDIR / f"uploads-{uuid.uuid4().hex[:6]}"
        self.uploads.mkdir()
        prepare(self.url)

    def env(self, **extra: str) -> dict[str, str]:
        return {**os.environ, "PYTHONPATH": str(ROOT), "APP_ENV": "production", "DATABASE_URL": self.url,
                "SECRET_KEY": "bench-secret-key", "SESSION_COOKIE_SECURE": "false",
                "UPLOAD_DIR": str(self.uploads), "SCHEDULER_ENABLED": "false",
                "AUDIT_HEAD_LOG": str(WORKDIR / "audit-heads.log"), **extra}

    def bytes_used(self) -> int:
        if self.backend == "postgres":
            with psycopg.connect(self.url.replace("+psycopg", "")) as conn:
                return int(conn.execute("SELECT pg_database_size(current_database())").fetchone()[0])
        import sqlite3

        with sqlite3.connect(self.name) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            return int(conn.execute("PRAGMA page_count").fetchone()[0] * conn.execute("PRAGMA page_size").fetchone()[0])

    def drop(self) -> None:
        if self.backend == "postgres":
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (self.name,))
                conn.execute(f'DROP DATABASE IF EXISTS "{self.name}"')
        else:
            for suffix in ("", "-wal", "-shm"):
                Path(self.name + suffix).unlink(missing_ok=True)


class Proc:
    """A subprocess with its log file; stopped with SIGTERM (SIGKILL after 20 s)."""

    def __init__(self, args: list[str], env: dict[str, str], name: str, cwd: Path = ROOT) -> None:
        WORKDIR.mkdir(parents=True, exist_ok=True)
        self.log = WORKDIR / f"{name}-{uuid.uuid4().hex[:6]}.log"
        self.popen = subprocess.Popen(args, cwd=cwd, env=env, stdout=self.log.open("w"), stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


def gunicorn(db: Db, app: str = "wsgi:app", workers: int = WORKERS, threads: int = THREADS,
             **env: str) -> tuple[Proc, str]:
    """Start gunicorn on ``db`` and wait until it answers; returns the process and its base URL."""
    port = free_port()
    args = [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}", "--timeout", "120",
            "--log-level", "warning"]
    if threads > 1:
        args += ["-k", "gthread", "--threads", str(threads)]
    proc = Proc([*args, app], db.env(**env), "gunicorn")
    base = f"http://127.0.0.1:{port}"
    wait_serving(proc, base)
    return proc, base


def wait_serving(proc: Proc, base: str, timeout_s: float = 180) -> None:
    """Wait until the app server ``proc`` answers its sign-in page at ``base``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/auth/login", timeout=10).status_code == 200:
                return
        except requests.RequestException:
            pass
        if proc.popen.poll() is not None:
            raise RuntimeError(f"gunicorn exited: {proc.log.read_text()[-2000:]}")
        time.sleep(0.2)
    raise RuntimeError("gunicorn did not start")


def scheduler(db: Db, **env: str) -> Proc:
    return Proc([sys.executable, "-m", "flask", "--app", "wsgi", "scheduler"], db.env(**env), "scheduler")


def worker_pids(master: int) -> list[int]:
    """The gunicorn workers of a master process (children in /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master:
            found.append(int(stat.parent.name))
    return found


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0
