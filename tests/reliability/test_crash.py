"""Crash safety: the app server and the timer firer are killed with SIGKILL at random moments
while completions, approvals and timer firings are in flight, then restarted; afterwards
nothing is half-applied (task state, the human_task projection, the audit events and the
chain agree), every answered completion is there, and every due timer fired exactly once.

CRASH_ROUNDS kill/restart rounds (2 in `make test`, more in `make soak`), on the suite's database.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from uuid import UUID

import pytest
import requests
from SpiffWorkflow.util.task import TaskState as SpiffState
from sqlalchemy import select

from app.data.models import AuditEvent, HumanTask, ProcessInstance, TaskState
from app.engine.definitions.deploy import deploy
from app.formkit.definition import load_forms
from app.services.approvals import KINDS
from app.services.setup import known_department_names
from tests.reliability import torture

ROUNDS = int(os.environ.get("CRASH_ROUNDS", "2"))
FIGURES: dict[str, int] = Counter()


@pytest.fixture
def crash_app(app, database):
    with database.transaction() as session:
        deploy(session, {"torture.bpmn": torture.torture_diagram()}, load_forms(torture.FIXTURES / "forms"),
               known_departments=known_department_names(session), known_approvals=set(KINDS))
    return app


def _fire_completions(base: str, tokens: dict, database, rng: random.Random, answers: list[dict]) -> None:
    """Complete open work and approval tasks through the API until the server dies."""

    def one(task: str, element: str) -> None:
        user, data = ("marketing", {"note": "n"}) if element == "work" else ("quality", {"decision": "accept"})
        try:
            answer = requests.post(f"{base}/api/v1/tasks/{task}/complete", json={"data": data},
                                   headers=tokens[user], timeout=30)
        except requests.RequestException:
            answers.append({"task": task, "status": None})  # killed before it answered: either outcome is fine
            return
        answers.append({"task": task, "status": answer.status_code})

    with ThreadPoolExecutor(max_workers=4) as pool:
        for _ in range(200):
            work = [(t, "work") for t in torture._open_tasks(database, "work")]
            approve = [(t, "approve") for t in torture._open_tasks(database, "approve")]
            batch = rng.sample(work + approve, min(4, len(work + approve)))
            if not batch:
                time.sleep(0.05)
                continue
            done = list(pool.map(lambda item: one(*item), batch))
            if any(a["status"] is None for a in answers[-len(done):]):
                return


def _consistent(database, runtime) -> dict[str, int]:
    """Task rows, workflow state, audit events and the chain agree; nothing half-applied."""
    from app.engine import audit_chain

    checked = Counter()
    with database.session() as session:
        completed_events = Counter(session.scalars(
            select(AuditEvent.task_id).where(AuditEvent.action == "task_completed")))
        for instance in session.scalars(select(ProcessInstance).where(ProcessInstance.process_key == torture.PROCESS)):
            workflow = runtime.load(session, instance)
            for row in session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id)):
                spiff = workflow.get_task_from_id(UUID(row.id))
                if row.state == TaskState.OPEN:
                    assert spiff is not None and spiff.state == SpiffState.READY, (row.id, spiff and spiff.state)
                    assert completed_events[row.id] == 0, f"open task {row.id} has a completion event"
                else:
                    assert spiff is not None and spiff.state == SpiffState.COMPLETED, (row.id, spiff and spiff.state)
                    assert completed_events[row.id] == 1, f"task {row.id}: {completed_events[row.id]} events"
                checked["tasks"] += 1
            checked["instances"] += 1
        with database.engine.connect() as conn:
            verification = audit_chain.verify(conn)
        assert verification.ok, verification.finding
        checked["audit_events"] = verification.checked
    return dict(checked)


def test_sigkill_during_completions_and_timer_firing_leaves_nothing_half_applied(crash_app, database, tmp_path):
    runtime = crash_app.extensions["runtime"]
    rng = random.Random(15)
    torture.start_instances(database, runtime, 12)
    answers: list[dict] = []
    kills = 0
    for _round in range(ROUNDS):
        server = torture.Server(database.url, tmp_path / "uploads").start()
        timers = torture.timer_process(database.url, tmp_path / "uploads", 60)
        torture.start_instances(database, runtime, 3)
        tokens = {user: torture._token(server.url, user) for user in ("marketing", "quality")}
        with ThreadPoolExecutor(max_workers=1) as background:
            load = background.submit(_fire_completions, server.url, tokens, database, rng, answers)
            time.sleep(rng.uniform(1.0, 4.0))  # a random moment in the middle of the work
            server.kill()
            timers.kill()
            timers.wait(timeout=30)
            kills += 2
            load.result(timeout=120)
        _consistent(database, runtime)  # after every crash, before any repair
    with database.session() as session:
        done = set(session.scalars(select(HumanTask.id).where(HumanTask.state == TaskState.COMPLETED)))
    lost = [a for a in answers if a["status"] == 200 and a["task"] not in done]
    assert not lost, f"answered 200 but not in the database: {lost[:5]}"
    assert not [a for a in answers if a["status"] and a["status"] >= 500]
    torture.finish_all(database, runtime)  # due timers fire after the restarts, and only once
    checked = torture.check_invariants(database, runtime, [])
    checked.update(_consistent(database, runtime))
    FIGURES.update({"kills": kills, "requests": len(answers),
                    "answered_200": sum(1 for a in answers if a["status"] == 200),
                    "cut_off": sum(1 for a in answers if a["status"] is None)})
    print("CRASH", dict(FIGURES), checked)
