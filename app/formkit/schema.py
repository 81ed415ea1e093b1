"""The JSON Schema of a form definition's JSON data: generated from the same field specs that
:func:`app.formkit.build.validate` checks (required fields, choices, lengths, bounds, types,
group rows, no unknown fields), so the API document cannot drift from the server.

File fields are left out: files are not sent as JSON (the API refuses them there).
"""

from __future__ import annotations

from typing import Any

from app.formkit.build import DEFAULT_TEXT_MAX, DEFAULT_TEXTAREA_MAX, EMAIL_RE, FILE_TYPES
from app.formkit.definition import CHOICE_TYPES, conditions


def _choice_values(spec: dict[str, Any]) -> list[str]:
    return [str(c["value"]) if isinstance(c, dict) else str(c) for c in spec.get("choices", [])]


def _bounds(spec: dict[str, Any], schema: dict[str, Any], minimum: Any = None) -> dict[str, Any]:
    if "min" in spec or minimum is not None:
        schema["minimum"] = spec.get("min", minimum)
    if "max" in spec:
        schema["maximum"] = spec["max"]
    return schema


def _text(spec: dict[str, Any], required: bool) -> dict[str, Any]:
    limit = spec.get("max_length") or (DEFAULT_TEXTAREA_MAX if spec["type"] == "textarea" else DEFAULT_TEXT_MAX)
    schema: dict[str, Any] = {"type": "string", "maxLength": limit}
    low = max(int(spec.get("min_length", 0) or 0), 1 if required else 0)
    if low:
        schema["minLength"] = low
        schema["pattern"] = r"\S"  # blank text is no answer
    if spec["type"] == "email":
        schema["pattern"] = EMAIL_RE.pattern
    return schema


def _value_schema(spec: dict[str, Any], required: bool) -> dict[str, Any]:
    ftype = spec["type"]
    if ftype in ("text", "textarea", "email"):
        return _text(spec, required)
    if ftype == "integer":
        return _bounds(spec, {"type": "integer"})
    if ftype in ("money", "decimal", "number"):
        return _bounds(spec, {"type": "number"}, 0 if ftype == "money" else None)
    if ftype == "date":
        return {"type": "string", "format": "date"}
    if ftype == "datetime":
        return {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$"}
    if ftype == "boolean":
        return {"type": "boolean"}
    if ftype == "multiselect":
        items: dict[str, Any] = {"enum": _choice_values(spec)} if spec.get("choices") else {"type": "string"}
        schema: dict[str, Any] = {"type": "array", "items": items, "uniqueItems": True}
        if required:
            schema["minItems"] = 1
        return schema
    if ftype in CHOICE_TYPES:
        return {"enum": _choice_values(spec)} if spec.get("choices") else {"type": "string"}
    if ftype == "group":
        rows: dict[str, Any] = {"type": "array", "items": object_schema(spec["fields"])}
        if "max_rows" in spec:
            rows["maxItems"] = spec["max_rows"]
        if required or spec.get("min_rows"):
            rows["minItems"] = max(int(spec.get("min_rows") or 0), 1)
        return rows
    return {"type": "string", "description": f"{ftype}: an id from the form's choices"}  # user, department


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    if "enum" in schema:
        return {**schema, "enum": [*schema["enum"], None]}
    if isinstance(schema.get("type"), str):
        return {**schema, "type": [schema["type"], "null"]}
    return schema


def object_schema(specs: list[dict[str, Any]]) -> dict[str, Any]:
    """The schema of one JSON object holding ``specs``'s fields (top level or a group row)."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    for spec in specs:
        if spec["type"] in FILE_TYPES:
            continue
        is_required = bool(spec.get("required"))
        schema = _value_schema(spec, is_required)
        if is_required:
            required.append(spec["name"])
        else:
            schema = _nullable(schema)
        if conditions(spec) and not is_required:
            schema["description"] = "Required under the form's required_if conditions."
        properties[spec["name"]] = schema
    result: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        result["required"] = required
    return result


def json_schema(definition: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema of ``definition``'s data as the API accepts it."""
    schema = object_schema(definition["fields"])
    title = definition.get("title")
    if isinstance(title, dict):
        schema["title"] = title.get("en") or next(iter(title.values()), "")
    return schema


def file_fields(definition: dict[str, Any]) -> list[str]:
    """The names of the definition's file fields (not accepted as JSON)."""
    return [spec["name"] for spec in definition["fields"] if spec["type"] in FILE_TYPES]
