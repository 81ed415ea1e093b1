"""The compiled translations are built by the test setup (tests/conftest.py), so `pytest`
in a clean clone passes without `make translations` first."""

from __future__ import annotations

import os
import threading

from babel.messages.mofile import read_mo

from tests.conftest import ROOT, compile_translations

PO = """msgid ""
msgstr ""
"Content-Type: text/plain; charset=UTF-8\\n"

msgid "Save"
msgstr "{}"
"""


def _catalogue(tmp_path, text: str = "保存"):
    po = tmp_path / "zh" / "LC_MESSAGES" / "messages.po"
    po.parent.mkdir(parents=True, exist_ok=True)
    po.write_text(PO.format(text), encoding="utf-8")
    return po, po.with_suffix(".mo")


def _translation(mo) -> str:
    with mo.open("rb") as f:
        return read_mo(f).get("Save").string


def test_a_missing_or_stale_mo_is_compiled_and_a_fresh_one_left_alone(tmp_path):
    po, mo = _catalogue(tmp_path)
    assert compile_translations(tmp_path) == [mo]
    assert _translation(mo) == "保存"
    assert compile_translations(tmp_path) == []  # up to date
    _catalogue(tmp_path, "存盘")
    stamp = mo.stat().st_mtime
    os.utime(po, (stamp + 10, stamp + 10))  # edited after the last compile
    assert compile_translations(tmp_path) == [mo]
    assert _translation(mo) == "存盘"
    assert sorted(p.name for p in mo.parent.iterdir()) == ["messages.mo", "messages.po"]  # no temporary left


def test_workers_compiling_at_once_leave_a_whole_catalogue(tmp_path):
    po, mo = _catalogue(tmp_path)
    errors = []

    def compile_once():
        try:
            compile_translations(tmp_path)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    for round_ in range(5):
        os.utime(po, (round_ + 1e9, round_ + 2e9))  # stale again
        workers = [threading.Thread(target=compile_once) for _ in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert errors == [] and _translation(mo) == "保存"
    assert sorted(p.name for p in mo.parent.iterdir()) == ["messages.mo", "messages.po"]


def test_the_application_catalogue_is_compiled():
    for po in (ROOT / "app" / "translations").glob("*/LC_MESSAGES/messages.po"):
        mo = po.with_suffix(".mo")
        assert mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime


def test_every_message_of_the_app_has_a_chinese_translation():
    """Fails on a user-visible string added without its zh entry, and on an empty or fuzzy entry."""
    from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
    from babel.messages.frontend import parse_mapping_cfg
    from babel.messages.pofile import read_po

    with open(ROOT / "babel.cfg", encoding="utf-8") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    keywords = {**DEFAULT_KEYWORDS, "_l": None, "N_": None}
    with open(ROOT / "app" / "translations" / "zh" / "LC_MESSAGES" / "messages.po", "rb") as po:
        catalogue = read_po(po)
    untranslated = sorted(
        f"{filename}: {message if isinstance(message, str) else message[0]}"
        for filename, _line, message, _comments, _context in extract_from_dir(
            str(ROOT / "app"), method_map, options_map, keywords=keywords)
        if not ((entry := catalogue.get(message if isinstance(message, str) else message[0]))
                and entry.string and not entry.fuzzy)
    )
    assert untranslated == []
    assert [m.id for m in catalogue if m.id and (not m.string or m.fuzzy)] == []


def test_each_message_is_translated_once():
    """A message listed twice gets one of its translations silently dropped by the compiler."""
    import re
    from collections import Counter

    for path in (ROOT / "app/translations/zh/LC_MESSAGES/messages.po", ROOT / "app/translations/messages.pot"):
        keys = [(ctx, msgid) for ctx, msgid in re.findall(
            r'^(?:msgctxt (".*")\n)?msgid (".+")$', path.read_text(encoding="utf-8"), re.M)]
        twice = [key for key, n in Counter(keys).items() if n > 1]
        assert not twice, f"{path.name}: listed more than once: {twice}"
