"""Render pages in-process with the clock frozen and write them to files (CSRF tokens masked), so
that two trees' HTML can be compared byte for byte on the same database:

    DATABASE_URL=postgresql+psycopg://…/benchdb_xxxx .venv/bin/python bench/page_snapshot.py \\
        --tree /tmp/main-export --out /tmp/snap-main --at 2026-11-30T06:00:00+00:00 \\
        marketing:/inbox/?tab=department quality:/cases/?q=华东机电 …
    diff -r /tmp/snap-main /tmp/snap-branch

``--tree`` is the checkout whose ``app`` renders (default: this one). Each page is ``user:path``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
from datetime import datetime
from pathlib import Path

os.environ.setdefault("APP_ENV", "production")
os.environ.setdefault("SECRET_KEY", "bench-secret-key")
os.environ.setdefault("SESSION_COOKIE_SECURE", "false")
os.environ.setdefault("SCHEDULER_ENABLED", "false")

#: the CSRF token (a signed, time-stamped value: different on every render)
_TOKEN = re.compile(r'(name="csrf_token"(?: type="hidden")? value=")[^"]+(")')
#: the task form's one-time tokens (random on every render)
_ONCE = re.compile(r'(name="(?:submit|upload)_token" value=")[^"]+(")')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pages", nargs="+", help="user:path")
    parser.add_argument("--tree", default=str(Path(__file__).resolve().parents[1]))
    parser.add_argument("--out", required=True)
    parser.add_argument("--at", required=True, help="the frozen instant (ISO, with offset)")
    parser.add_argument("--english", default="", help="comma-separated users who read the pages in English")
    args = parser.parse_args()
    sys.path.insert(0, args.tree)
    from app import create_app
    from app.clock import clock

    app = create_app()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    clock.set(datetime.fromisoformat(args.at))
    clients: dict[str, object] = {}
    english = set(filter(None, args.english.split(",")))
    for item in args.pages:
        user, path = item.split(":", 1)
        client = clients.get(user)
        if client is None:
            client = clients[user] = app.test_client()
            page = client.get("/auth/login").get_data(as_text=True)
            token = _TOKEN.search(page).group(0).split('value="')[1][:-1]  # type: ignore[union-attr]
            assert client.post("/auth/login", data={"username": user, "password": "demo", "csrf_token": token}
                               ).status_code == 302
            if user in english:
                page = client.get("/inbox/").get_data(as_text=True)
                token = _TOKEN.search(page).group(0).split('value="')[1][:-1]  # type: ignore[union-attr]
                client.post("/language/en", data={"csrf_token": token})
        response = client.get(path)
        html = _ONCE.sub(r"\1ONCE\2", _TOKEN.sub(r"\1CSRF\2", response.get_data(as_text=True)))
        name = f"{user}-{hashlib.sha1(path.encode()).hexdigest()[:8]}.html"
        (out / name).write_text(f"<!-- {response.status_code} {user} {path} -->\n{html}")
        print(f"{name}: {response.status_code} {len(html)} chars  {user} {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
