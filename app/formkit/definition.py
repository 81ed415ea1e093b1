"""The form definition format, its validation, and loading from the ``forms/`` folder.

A definition is JSON::

    {"key": "intake", "title": {"zh": "...", "en": "..."},
     "fields": [{"name": "customer_name", "type": "text", "required": true,
                 "label": {"zh": "客户名称", "en": "Customer"}, "max_length": 200}, ...]}

Labels, titles, help texts and choice labels are either a string or ``{"zh", "en"}``.

``required_if`` makes a field required only when another top-level field of the same form
has (``in``) or has not (``not_in``) one of the listed values, ``""`` standing for "left
empty"; a list of such conditions means "any of them". On a group it asks for at least one
row. Example: ``"required_if": {"field": "new_feedback_type", "in": ["", "complaint"]}``.

``"not_future": true`` on a date or datetime field that records what happened refuses a value
after now. ``"prefill_from": "<task data key>"`` starts a top-level field with that earlier value
(e.g. the shipment's rows from the approved request) until the task has its own.
``decision_fields`` (optional) lists the fields that record a decision: never pre-filled from
an earlier round, and shown to whoever gets the work back. ``context`` (optional) lists the
earlier forms whose data the task page shows read-only above the form: form keys, or
``{"form": key, "fields": [names], "per_department": true}`` for some of its fields (and the
latest submission of each department rather than the latest one). ``sections`` (optional)
divides a long form: ``[{"id": "d4", "title": {...}, "from": "<its first field>"}]``; the page
shows a navigation to them.

A file field may say which files it takes, ``"accept": ["jpg", "png", "pdf"]`` (some of the
accepted files, judged by content: ``formkit/uploads.py``), and ``"max_mb"`` per file (else
the app's ``UPLOAD_MAX_FILE_BYTES``); the form states both next to the field.
"""

from __future__ import annotations

import hashlib
import json
import keyword
import re
from pathlib import Path
from typing import Any

from app.formkit.uploads import EXTENSIONS

FIELD_TYPES = {
    "text", "textarea", "email", "integer", "number", "money", "date", "datetime",
    "boolean", "select", "multiselect", "radio", "user", "department", "file", "files",
    "group",
}
CHOICE_TYPES = {"select", "multiselect", "radio"}
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,98}$")
#: names the engine or the serializer reserve in task data
RESERVED_NAMES = {
    "typename", "task", "data", "now", "case_id", "case_number", "submitted_by", "value_of", "to_int",
}
FIELD_KEYS = {
    "name", "type", "label", "help", "required", "choices", "min", "max", "min_length",
    "max_length", "max_files", "accept", "fields", "min_rows", "max_rows", "default",
    "placeholder", "readonly", "rows", "roles", "width", "sum_equals", "required_if", "not_future",
    "prefill_from", "max_mb",
}
NUMBER_TYPES = {"integer", "number", "money"}
CONDITION_KEYS = {"field", "in", "not_in"}


def localized(value: Any, locale: str) -> str:
    """Pick the text for ``locale`` from a string or a ``{"zh", "en"}`` mapping."""
    if isinstance(value, dict):
        return str(value.get(locale) or value.get("zh") or value.get("en") or "")
    return "" if value is None else str(value)


def content_hash(definition: dict[str, Any]) -> str:
    canonical = json.dumps(definition, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _check_label(value: Any, where: str, problems: list[str], required: bool = True) -> None:
    if value is None:
        if required:
            problems.append(f"{where}: label is missing")
        return
    if isinstance(value, str):
        return
    if isinstance(value, dict) and value and all(
        k in ("zh", "en") and isinstance(v, str) for k, v in value.items()
    ):
        return
    problems.append(f"{where}: label must be a string or {{\"zh\": ..., \"en\": ...}}")


def conditions(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``required_if`` conditions of a field spec as a list (empty when it has none)."""
    value = spec.get("required_if")
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _check_required_if(field: dict[str, Any], names: set[str], here: str, problems: list[str]) -> None:
    if "required_if" not in field:
        return
    found = conditions(field)
    if not found:
        problems.append(f"{here}: required_if needs at least one condition")
    for condition in found:
        if not isinstance(condition, dict) or set(condition) - CONDITION_KEYS or "field" not in condition:
            problems.append(f"{here}: each required_if condition is {{\"field\", \"in\" or \"not_in\"}}")
            continue
        if condition["field"] not in names or condition["field"] == field.get("name"):
            problems.append(f"{here}: required_if names no other field of this form: {condition['field']!r}")
        lists = [condition[k] for k in ("in", "not_in") if k in condition]
        if len(lists) != 1 or not isinstance(lists[0], list) or not all(isinstance(v, str) for v in lists[0]):
            problems.append(f"{here}: required_if needs either 'in' or 'not_in', a list of strings")


def _check_fields(fields: Any, where: str, problems: list[str], depth: int = 0) -> None:
    if not isinstance(fields, list) or not fields:
        problems.append(f"{where}: 'fields' must be a non-empty list")
        return
    seen: set[str] = set()
    names = {str(f.get("name")) for f in fields if isinstance(f, dict)}
    for index, field in enumerate(fields):
        here = f"{where}.fields[{index}]"
        if not isinstance(field, dict):
            problems.append(f"{here}: must be an object")
            continue
        here = _check_name(field.get("name"), where, here, seen, problems)
        unknown = set(field) - FIELD_KEYS
        if unknown:
            problems.append(f"{here}: unknown keys {sorted(unknown)}")
        ftype = field.get("type")
        if ftype not in FIELD_TYPES:
            problems.append(f"{here}: unknown type {ftype!r}")
            continue
        _check_label(field.get("label"), here, problems)
        if ftype in CHOICE_TYPES:
            _check_choices(field.get("choices"), ftype, here, problems)
        for bound in ("min", "max", "min_length", "max_length", "max_files", "min_rows", "max_rows"):
            if bound in field and not isinstance(field[bound], int | float):
                problems.append(f"{here}: {bound} must be a number")
        if depth == 0:
            _check_required_if(field, names, here, problems)
        elif "required_if" in field:
            problems.append(f"{here}: required_if is for top-level fields only")
        if ftype == "group":
            if depth >= 1:
                problems.append(f"{here}: groups cannot be nested")
            else:
                _check_fields(field.get("fields"), here, problems, depth + 1)
        if "sum_equals" in field:
            _check_sum_equals(field, here, problems)
        _check_extras(field, ftype, here, depth, problems)


def _check_extras(field: dict[str, Any], ftype: str, here: str, depth: int, problems: list[str]) -> None:
    """``prefill_from`` (a task data key, top level) and ``not_future`` (on dates)."""
    source = field.get("prefill_from")
    if "prefill_from" in field and (not isinstance(source, str) or not NAME_RE.match(source) or depth):
        problems.append(f"{here}: prefill_from names a task data key, on a top-level field")
    accept = field.get("accept")
    if "accept" in field and (ftype not in ("file", "files") or not isinstance(accept, list) or not accept
                              or not set(map(str, accept)) <= set(EXTENSIONS)):
        problems.append(f"{here}: accept lists file extensions, some of {', '.join(EXTENSIONS)}")
    if "max_mb" in field and (ftype not in ("file", "files") or isinstance(field["max_mb"], bool)
                              or not isinstance(field["max_mb"], int | float) or field["max_mb"] <= 0):
        problems.append(f"{here}: max_mb is a positive number of megabytes, on a file field")
    if "not_future" in field and (ftype not in ("date", "datetime") or not isinstance(field["not_future"], bool)):
        problems.append(f"{here}: not_future is true or false, on a date or datetime field")


def _check_name(name: Any, where: str, here: str, seen: set[str], problems: list[str]) -> str:
    """Check a field's name (valid, not reserved, unique); returns how to name the field in problems."""
    if not isinstance(name, str) or not NAME_RE.match(name) or keyword.iskeyword(name):
        problems.append(f"{here}: name {name!r} must be lower_case letters, digits and _")
    elif name in RESERVED_NAMES:
        problems.append(f"{here}: name {name!r} is reserved")
    elif name in seen:
        problems.append(f"{here}: duplicate field name {name!r}")
    else:
        seen.add(name)
        return f"{where}.{name}"
    return here


def _check_choices(choices: Any, ftype: str, here: str, problems: list[str]) -> None:
    """A choice field has a non-empty list of choices with unique string values and labels."""
    if not isinstance(choices, list) or not choices:
        problems.append(f"{here}: {ftype} needs a non-empty 'choices' list")
        return
    values = []
    for choice in choices:
        if not isinstance(choice, dict) or not isinstance(choice.get("value"), str):
            problems.append(f"{here}: each choice needs a string 'value'")
            continue
        values.append(choice["value"])
        _check_label(choice.get("label"), f"{here}[{choice['value']}]", problems)
    if len(values) != len(set(values)):
        problems.append(f"{here}: duplicate choice values")


def _check_sum_equals(field: dict[str, Any], where: str, problems: list[str]) -> None:
    """``"sum_equals": {"field": <a number column of the group>, "data": <task data key>}``: the
    column must add up to the value the process put in the task's data under that key."""
    rule = field["sum_equals"]
    if field.get("type") != "group":
        problems.append(f"{where}: sum_equals belongs on a group")
        return
    if not isinstance(rule, dict) or set(rule) != {"field", "data"}:
        problems.append(f"{where}: sum_equals must be {{\"field\": <column>, \"data\": <task data key>}}")
        return
    columns = {sub.get("name"): sub.get("type") for sub in field.get("fields") or [] if isinstance(sub, dict)}
    if columns.get(rule["field"]) not in NUMBER_TYPES:
        problems.append(f"{where}: sum_equals field {rule['field']!r} is not a number column of the group")
    if not isinstance(rule["data"], str) or not NAME_RE.match(rule["data"]):
        problems.append(f"{where}: sum_equals data {rule['data']!r} must name a task data key")


def validate_definition(definition: Any, key: str | None = None) -> list[str]:
    """Every problem in a form definition (empty list when it is valid)."""
    problems: list[str] = []
    if not isinstance(definition, dict):
        return ["a form definition must be a JSON object"]
    form_key = definition.get("key")
    if not isinstance(form_key, str) or not KEY_RE.match(form_key):
        problems.append(f"key {form_key!r} must be lower_case letters, digits and _")
    elif key is not None and form_key != key:
        problems.append(f"key {form_key!r} does not match the file name {key!r}")
    _check_label(definition.get("title"), "title", problems)
    _check_fields(definition.get("fields"), form_key or "form", problems)
    _check_decision_fields(definition, problems)
    _check_context(definition.get("context"), problems)
    _check_sections(definition, problems)
    return problems


def sections(definition: dict[str, Any], locale: str) -> list[dict[str, str]]:
    """The form's sections (``"sections": [{"id", "title", "from": <first field>}]``) in the
    user's language: a long form's page gets a navigation to each."""
    return [{"id": str(s["id"]), "title": localized(s.get("title"), locale), "from": str(s["from"])}
            for s in definition.get("sections") or [] if isinstance(s, dict)]


def _check_sections(definition: dict[str, Any], problems: list[str]) -> None:
    value = definition.get("sections")
    if value is None:
        return
    names = [f.get("name") for f in definition.get("fields") or [] if isinstance(f, dict)]
    if not isinstance(value, list) or not value:
        problems.append("sections must be a non-empty list of {\"id\", \"title\", \"from\": <field name>}")
        return
    ids = set()
    for entry in value:
        if (not isinstance(entry, dict) or set(entry) != {"id", "title", "from"} or not isinstance(entry["id"], str)
                or not NAME_RE.match(entry["id"]) or entry["id"] in ids or entry["from"] not in names):
            problems.append(f"section {entry!r} must be {{\"id\": <unique name>, \"title\", "
                            "\"from\": <a field of this form>}")
            continue
        ids.add(entry["id"])
        _check_label(entry["title"], f"section {entry['id']}", problems)


def context_entries(definition: dict[str, Any]) -> list[tuple[str, list[str] | None, bool]]:
    """The earlier forms a task page shows read-only above this form (``"context"``), as
    ``(form key, field names or None for all, one per department)``."""
    entries: list[tuple[str, list[str] | None, bool]] = []
    for entry in definition.get("context") or []:
        if isinstance(entry, str):
            entries.append((entry, None, False))
        else:
            entries.append((entry["form"], list(entry.get("fields") or []) or None,
                            bool(entry.get("per_department"))))
    return entries


def _check_context(value: Any, problems: list[str]) -> None:
    """``context``: a list of form keys or ``{"form": key, "fields": [names]}``."""
    if value is None:
        return
    if not isinstance(value, list):
        problems.append("context must be a list of form keys or {\"form\": key, \"fields\": [names]}")
        return
    for entry in value:
        key = entry if isinstance(entry, str) else entry.get("form") if isinstance(entry, dict) else None
        fields = entry.get("fields", []) if isinstance(entry, dict) else []
        if (not isinstance(key, str) or not KEY_RE.match(key)
                or (isinstance(entry, dict) and set(entry) - {"form", "fields", "per_department"})
                or not isinstance(fields, list) or not all(isinstance(n, str) and NAME_RE.match(n) for n in fields)):
            problems.append(f"context entry {entry!r} must be a form key or {{\"form\": key, \"fields\": [names]}}")


def context_problems(forms: dict[str, dict[str, Any]]) -> list[str]:
    """Context entries naming a form or field that the set of forms ``forms`` lacks."""
    problems = []
    for key, definition in forms.items():
        for other, names, _each in context_entries(definition):
            if other not in forms:
                problems.append(f"{key}.json: context names the unknown form {other!r}")
                continue
            known = {f.get("name") for f in forms[other].get("fields") or []}
            problems.extend(f"{key}.json: context names the unknown field {other}.{name}"
                            for name in names or [] if name not in known)
    return problems


def decision_fields(definition: dict[str, Any]) -> list[str]:
    """The fields that record a decision (``"decision_fields": [names]``): they start empty on
    every round of a task, and a task sent back shows what they said."""
    return list(definition.get("decision_fields") or [])


def _check_decision_fields(definition: dict[str, Any], problems: list[str]) -> None:
    value = definition.get("decision_fields")
    if value is None:
        return
    names = {f.get("name") for f in definition.get("fields") or [] if isinstance(f, dict)}
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v in names for v in value):
        problems.append("decision_fields must be a non-empty list of names of top-level fields of this form")


def load_forms(folder: str | Path) -> dict[str, dict[str, Any]]:
    """Read ``<folder>/*.json``; raises ValueError listing every broken file."""
    forms: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    for path in sorted(Path(folder).glob("*.json")):
        try:
            definition = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            problems.append(f"{path.name}: {exc}")
            continue
        found = validate_definition(definition, key=path.stem)
        if found:
            problems.extend(f"{path.name}: {p}" for p in found)
            continue
        forms[path.stem] = definition
    problems.extend(context_problems(forms))
    if problems:
        raise ValueError("; ".join(problems))
    return forms


def iter_fields(definition: dict[str, Any]):
    """Top-level fields of a definition."""
    yield from definition.get("fields", [])


def sample_value(field: dict[str, Any]) -> Any:
    """A plausible value for a field (its default when it has one): for test runs of a diagram."""
    if "default" in field:
        return field["default"]
    ftype = field.get("type")
    low = field.get("min")
    if ftype in ("text", "textarea"):
        length = max(int(field.get("min_length") or 0), 2)
        if field.get("max_length"):
            length = min(length, int(field["max_length"]))
        return ("示例" * length)[:length]
    if ftype == "email":
        return "sample@example.com"
    if ftype == "integer":
        return int(low) if isinstance(low, int | float) else 1
    if ftype in ("number", "money"):
        return float(low) if isinstance(low, int | float) else 1.0
    if ftype == "date":
        return "2026-01-05"
    if ftype == "datetime":
        return "2026-01-05T09:00:00+08:00"
    if ftype == "boolean":
        return True
    if ftype in CHOICE_TYPES:
        first = (field.get("choices") or [{}])[0].get("value")
        return [first] if ftype == "multiselect" else first
    if ftype == "department":
        return "quality"
    if ftype == "group":
        rows = max(int(field.get("min_rows") or 1), 1)
        return [sample_data(field) for _ in range(rows)]
    return None  # user and file fields: nobody and nothing to attach


def sample_data(definition: dict[str, Any]) -> dict[str, Any]:
    """Sample values for every field of a form (or of a group's fields)."""
    return {f["name"]: sample_value(f) for f in definition.get("fields", []) if isinstance(f, dict) and "name" in f}
