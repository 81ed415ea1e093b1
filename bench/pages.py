"""Read pages as people see them (web pages with a signed-in session; the API inbox with a token)."""

from __future__ import annotations

import re
import time

import requests

from bench.load import percentiles

#: (key, user, path) — the web inbox (the department's queue, and "my tasks", the page's default tab),
#: the case search, the dashboard, the API inbox; Quality's approvals screen; the page of a closed
#: case (``{closed_case}``: the newest cloned closed case, with its task history and completion
#: events — its document links read what each task was completed with)
PAGES = (
    ("inbox", "marketing", "/inbox/?tab=department"),
    ("inbox_mine", "marketing", "/inbox/"),
    ("search", "quality", "/cases/?q=华东机电"),
    ("dashboard", "manager", "/dashboard/"),
    ("api_inbox", "marketing", "/api/v1/tasks?scope=department&limit=50"),
    ("approvals", "quality", "/approvals/"),
    ("case_page", "quality", "/cases/{closed_case}"),
)


def web_session(base: str, username: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{base}/auth/login", timeout=60).text
    token = re.search(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"', page).group(1)
    response = session.post(f"{base}/auth/login", data={"username": username, "password": "demo",
                                                        "csrf_token": token}, allow_redirects=False, timeout=60)
    assert response.status_code == 302, response.text[:300]
    token_response = session.post(f"{base}/api/v1/auth/token", json={"username": username, "password": "demo"},
                                  timeout=60)
    session.headers["X-Bench-Token"] = token_response.json()["token"]
    return session


def _health(base: str, repeat: int) -> dict[str, object]:
    """``GET /api/v1/health`` (no token, one ``SELECT 1``): a request whose cost does not grow with
    the data, measured at each size so that the machine's own drift between sizes shows."""
    samples = []
    with requests.Session() as session:
        for _ in range(2):
            session.get(f"{base}/api/v1/health", timeout=60)
        for _ in range(repeat):
            start = time.perf_counter()
            assert session.get(f"{base}/api/v1/health", timeout=60).status_code == 200
            samples.append((time.perf_counter() - start) * 1000)
    return {"available": True, "path": "/api/v1/health", **percentiles(samples)}


def measure(base: str, repeat: int, budget_s: float = 60.0, **ids: object) -> dict[str, object]:
    """p50/p95/p99 of each page over ``repeat`` requests, or as many as fit in ``budget_s``
    (at least 3): a page that takes seconds at volume must not hold the run up for hours.
    ``ids`` fill the paths' placeholders (``closed_case``); a page whose id is missing is skipped."""
    sessions: dict[str, requests.Session] = {}
    found: dict[str, object] = {"health": _health(base, repeat)}
    for key, user, template in PAGES:
        try:
            path = template.format(**ids)
        except KeyError:
            continue
        session = sessions.get(user) or sessions.setdefault(user, web_session(base, user))
        headers = {"Authorization": f"Bearer {session.headers['X-Bench-Token']}"} if path.startswith("/api/") else {}
        first = session.get(f"{base}{path}", headers=headers, allow_redirects=False, timeout=120)
        if first.status_code == 404:
            found[key] = {"available": False, "note": f"not available: {path} answers 404 on this branch"}
            continue
        if first.status_code != 200:
            found[key] = {"available": False, "note": f"{path} answered {first.status_code}"}
            continue
        for _ in range(2):
            session.get(f"{base}{path}", headers=headers, timeout=120)
        samples: list[float] = []
        began = time.perf_counter()
        for _ in range(repeat):
            if len(samples) >= 3 and time.perf_counter() - began > budget_s:
                break
            start = time.perf_counter()
            response = session.get(f"{base}{path}", headers=headers, timeout=120)
            samples.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, (path, response.status_code)
        found[key] = {"available": True, "path": path, "bytes": len(first.content), **percentiles(samples)}
    return found
