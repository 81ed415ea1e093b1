"""An export streams in constant memory: exporting many events in a fresh process grows its
peak RSS by less than a fixed bound, far below what holding the rows would take (a list of
100,000 exported rows alone takes some 200 MiB).

``make test`` exports 100,000 events as CSV and JSON and 20,000 as Excel; ``make soak``
exports 1,000,000 in each format (marked ``slow``; its figures are in docs/audit-export-soak.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from app.clock import clock
from app.services.setup import ensure_departments, seed_demo
from tests.audit.bulk import bulk_events
from tests.conftest import ROOT

#: growth of the exporting process's peak RSS, whatever the number of events
BOUND_MIB = 32


def _world(database, count: int) -> None:
    bulk_events(database, count, clock.now())
    with database.transaction() as session:
        ensure_departments(session)
        seed_demo(session)


def _probe(database, fmt: str) -> dict:
    database.dispose()
    done = subprocess.run([sys.executable, "-m", "tests.audit.export_probe", database.url, fmt], cwd=ROOT,
                          capture_output=True, text=True, timeout=1800, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    figures["growth_mib"] = (figures["rss_peak_kib"] - figures["rss_before_kib"]) / 1024
    return figures


@pytest.mark.parametrize(("fmt", "count"), [("csv", 100_000), ("json", 100_000), ("xlsx", 20_000)])
def test_an_export_streams_in_bounded_memory(database, fmt, count):
    _world(database, count)
    figures = _probe(database, fmt)
    assert figures["events"] >= count and figures["bytes"] > count * 50
    assert figures["growth_mib"] < BOUND_MIB, figures


if os.environ.get("AUDIT_SOAK") == "1":  # `make soak` (minutes per format): collected only there

    @pytest.mark.slow
    @pytest.mark.parametrize("fmt", ["csv", "json", "xlsx"])
    def test_an_export_of_a_million_events_streams_in_bounded_memory(database, fmt):
        _world(database, 1_000_000)
        figures = _probe(database, fmt)
        print(f"\nSOAK {database.dialect} {fmt}: {figures['events']} events, {figures['bytes'] / 2**20:.0f} MiB, "
              f"peak RSS {figures['rss_peak_kib'] / 1024:.0f} MiB (+{figures['growth_mib']:.1f} MiB during the "
              f"export), {figures['seconds']:.0f} s")
        assert figures["events"] >= 1_000_000
        assert figures["growth_mib"] < BOUND_MIB, figures
