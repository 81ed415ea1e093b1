"""Building and prefilling the declarative task and intake forms (validation: app.formkit)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import request
from flask_wtf import FlaskForm

from app.extensions import db
from app.formkit.build import FILE_TYPES, form_class
from app.services.choices import DatabaseChoices
from app.web.shared.display import locale


def build_form(definition: dict[str, Any], prefill: dict[str, Any] | None = None) -> FlaskForm:
    """The definition's Flask-WTF form: bound to the request on POST, else prefilled."""
    loc = locale()
    cls = form_class(definition, loc, DatabaseChoices(db.session), base=FlaskForm)
    meta = {"locales": ["en" if loc == "en" else "zh"]}
    if request.method == "POST":
        return cls(meta=meta)
    return cls(formdata=None, data=to_form_values(definition, prefill or {}), meta=meta)


def bound_form(definition: dict[str, Any], pairs: list[tuple[str, Any]]) -> FlaskForm:
    """The definition's form bound to posted ``(name, value)`` pairs (a restored draft)."""
    from werkzeug.datastructures import MultiDict

    loc = locale()
    cls = form_class(definition, loc, DatabaseChoices(db.session), base=FlaskForm)
    return cls(formdata=MultiDict(pairs), meta={"locales": ["en" if loc == "en" else "zh"], "csrf": False})


def _convert(spec: dict[str, Any], value: Any) -> Any:
    ftype = spec["type"]
    if value is None:
        return None
    try:
        if ftype == "date" and isinstance(value, str):
            return date.fromisoformat(value[:10])
        if ftype == "datetime" and isinstance(value, str):
            return datetime.fromisoformat(value)
        if ftype in ("number", "money") and not isinstance(value, Decimal):
            return Decimal(str(value))
        if ftype == "integer" and not isinstance(value, int):
            return int(value)
    except (ValueError, InvalidOperation):
        return None
    if ftype == "boolean":
        return bool(value)
    if ftype == "multiselect":
        return [str(v) for v in value] if isinstance(value, list) else [str(value)]
    if ftype in ("select", "radio", "user", "department"):
        return str(value)
    if ftype in ("text", "textarea", "email"):
        return value if isinstance(value, str) else str(value)
    return value


def to_form_values(definition: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """Task data (JSON) → WTForms object data, for the fields of this form that have values."""
    values: dict[str, Any] = {}
    for spec in definition.get("fields", []):
        name, ftype = spec["name"], spec["type"]
        if name not in data or ftype in FILE_TYPES:
            continue
        if ftype == "group":
            rows = data[name] if isinstance(data[name], list) else []
            values[name] = [
                {sub["name"]: _convert(sub, row.get(sub["name"])) for sub in spec["fields"]
                 if sub["type"] not in FILE_TYPES}
                for row in rows if isinstance(row, dict)
            ]
        else:
            converted = _convert(spec, data[name])
            if converted is not None:
                values[name] = converted
    return values
