"""Concurrent clients (threads, one requests session each) driving the workload over HTTP."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable

from bench.workload import ApiClient, Timings


def percentiles(values: list[float]) -> dict[str, float | int]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))], 2)

    return {"n": len(ordered), "p50": round(statistics.median(ordered), 2), "p95": pick(0.95), "p99": pick(0.99)}


def run_threads(clients: int, work: Callable[[int], None], barrier: threading.Barrier) -> float:
    """Run ``work(i)`` in ``clients`` threads that wait at ``barrier`` (sized ``clients + 1``) to
    start together; the seconds from that start until the last one ends."""
    threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    t0 = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - t0


def run_clients(base: str, clients: int, cases_per_client: int) -> dict[str, object]:
    """``clients`` threads each open and drive ``cases_per_client`` complaints; figures of the run."""
    sessions = [ApiClient(base, Timings()) for _ in range(clients)]  # sign-in before the clock starts
    # one warm-up case per worker process (imports, parsed specs, connections)
    sessions[0].drive(sessions[0].open_case() or 0)
    for client in sessions:
        client.timings.samples.clear()
        client.timings.errors.clear()
    completed = [0] * clients
    started = [0] * clients
    barrier = threading.Barrier(clients + 1)

    def work(index: int) -> None:
        client = sessions[index]
        barrier.wait()
        for _ in range(cases_per_client):
            case_id = client.open_case()
            if case_id is None:
                continue
            started[index] += 1
            completed[index] += client.drive(case_id)
            client.search("基准客户")

    elapsed = run_threads(clients, work, barrier)
    timings = Timings()
    for client in sessions:
        timings.merge(client.timings)
    return {
        "clients": clients,
        "seconds": round(elapsed, 2),
        "cases_started": sum(started),
        "completions": sum(completed),
        "cases_started_per_s": round(sum(started) / elapsed, 2),
        "completions_per_s": round(sum(completed) / elapsed, 2),
        "latency_ms": {kind: percentiles(values) for kind, values in sorted(timings.samples.items())},
        "errors": len(timings.errors),
        "first_errors": timings.errors[:3],
    }
