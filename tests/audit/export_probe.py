"""Run one export of the whole trail in a fresh process and report its memory: ``python -m
tests.audit.export_probe DATABASE_URL FORMAT`` prints JSON with the events, the bytes written,
the process's RSS when the export began and its peak RSS during the export (KiB; Linux resets
the peak through ``/proc/self/clear_refs``), and the seconds taken."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from sqlalchemy import select

from app.data.db import Database
from app.data.models import User
from app.services import audit_trail
from app.services.audit_trail import AuditFilter


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def main(url: str, fmt: str) -> None:
    database = Database(url)
    with database.transaction() as session:
        auditor = session.scalars(select(User).where(User.username == "auditor")).one()
        export = audit_trail.start_export(session, auditor, AuditFilter(), fmt)
    Path("/proc/self/clear_refs").write_text("5")  # peak RSS := current RSS
    before = _status("VmRSS")
    started = time.monotonic()
    size = sum(len(chunk) for chunk in audit_trail.stream_export(database, export))
    seconds = time.monotonic() - started
    after = _status("VmHWM")
    database.dispose()
    print(json.dumps({"events": export.total, "bytes": size, "rss_before_kib": before, "rss_peak_kib": after,
                      "seconds": round(seconds, 1)}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
