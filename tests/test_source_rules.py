"""Rules about the source that a reviewer would otherwise have to remember."""

from __future__ import annotations

import re

from tests.conftest import ROOT

APP = ROOT / "app"


def _sources(*suffixes: str):
    for path in sorted(APP.rglob("*")):
        if path.suffix in suffixes and "vendor" not in path.parts and path.is_file():
            yield path, path.read_text(encoding="utf-8")


def test_the_time_zone_is_written_only_in_the_configuration():
    literal = re.compile(r"""["']Asia/Shanghai["']""")
    found = [f"{path.relative_to(ROOT)}:{text[:m.start()].count(chr(10)) + 1}"
             for path, text in _sources(".py", ".html", ".js") for m in literal.finditer(text)]
    assert found == [], "use app.clock.local_zone() (APP_TIMEZONE in config.py)"
    assert literal.search((ROOT / "config.py").read_text(encoding="utf-8"))  # the pattern does match


def test_audit_events_are_built_only_by_the_audit_writer():
    construction = re.compile(r"(?<!class )\bAuditEvent\(")
    found = [str(path.relative_to(ROOT)) for path, text in _sources(".py") if construction.search(text)]
    assert found == ["app/engine/audit.py"], "write audit events with app.engine.audit.record"
