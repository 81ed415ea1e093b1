"""The workload: a complaint taken from intake through the 8D to the reply the customer accepts
(intake + 7 user tasks, each by its own department), driven over HTTP with bearer tokens.

Per completion a user opens their department inbox, the case, and submits the task — the
three requests a person makes. Form data: tests/process_http/payloads.py (one place)."""

from __future__ import annotations

import time
import uuid
from typing import Any

from bench.lean_http import Http, Response
from tests.process_http.payloads import CLOSE_ACCEPTED, EIGHT_D, REVIEW_NONE, analysis, intake, verify_ok

USERS = ("marketing", "technical", "quality", "production")

#: element → (user, form data); any other open task (corrective actions, the return visit after
#: the 3-day survey wait) is outside the workload
STEPS: dict[str, tuple[str, dict[str, Any]]] = {
    "verify": ("marketing", verify_ok()),
    "technical_review": ("technical", REVIEW_NONE),
    "preliminary": ("quality", analysis(responsible_departments=["production"])),
    "report": ("production", EIGHT_D),
    "verify_8d": ("quality", {"decision": "accept", "reason": "措施有效"}),
    "summary": ("quality", {"measures_summary": "各部门措施见8D"}),
    "close_case": ("marketing", CLOSE_ACCEPTED),
}


class Timings:
    """Latency samples (ms) per request kind, and counts."""

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = {}
        self.errors: list[str] = []

    def add(self, kind: str, ms: float) -> None:
        self.samples.setdefault(kind, []).append(ms)

    def merge(self, other: Timings) -> None:
        for kind, values in other.samples.items():
            self.samples.setdefault(kind, []).extend(values)
        self.errors.extend(other.errors)


class ApiClient:
    """One simulated client: one kept-alive connection (bench/lean_http.py), bearer tokens per user,
    timings."""

    def __init__(self, base: str, timings: Timings, users: tuple[str, ...] = USERS) -> None:
        self.base = base
        self.timings = timings
        self.http = Http(base)
        self.tokens: dict[str, str] = {}
        for user in users:
            response = self.http.post("/api/v1/auth/token", json={"username": user, "password": "demo"})
            response.raise_for_status()
            self.tokens[user] = response.json()["token"]

    def call(self, kind: str, method: str, path: str, user: str, **kwargs: Any) -> Response:
        start = time.perf_counter()
        response = self.http.request(method, path, headers={"Authorization": f"Bearer {self.tokens[user]}"},
                                     **kwargs)
        self.timings.add(kind, (time.perf_counter() - start) * 1000)
        if response.status_code >= 400:
            self.timings.errors.append(f"{kind} {path}: {response.status_code} {response.text[:300]}")
        return response

    def open_case(self) -> int | None:
        name = f"基准客户{uuid.uuid4().hex[:8]}"
        response = self.call("start", "POST", "/api/v1/cases", "marketing", json=intake(customer_name=name))
        return response.json()["id"] if response.status_code == 201 else None

    def drive(self, case_id: int, stop_after: int | None = None) -> int:
        """Complete the case's workload tasks in order (at most ``stop_after``); returns how many."""
        done = 0
        while stop_after is None or done < stop_after:
            case = self.call("case_page", "GET", f"/api/v1/cases/{case_id}", "quality").json()
            todo = [t for t in case.get("open_tasks", []) if t["element_id"] in STEPS]
            if not todo:
                return done
            task = todo[0]
            user, data = STEPS[task["element_id"]]
            self.call("inbox", "GET", "/api/v1/tasks?scope=department&limit=50", user)
            response = self.call("submit", "POST", f"/api/v1/tasks/{task['id']}/complete", user, json={"data": data})
            if response.status_code != 200:
                return done
            done += 1
        return done

    def search(self, text: str) -> None:
        self.call("search", "GET", "/api/v1/cases", "quality", params={"q": text, "limit": 20})
