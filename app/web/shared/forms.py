"""Building, prefilling and reading the declarative task and intake forms."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import current_app, request
from flask_wtf import FlaskForm

from app.extensions import db
from app.formkit.build import form_class, form_data
from app.services import attachments
from app.services.choices import DatabaseChoices
from app.web.shared.display import locale

FILE_TYPES = ("file", "files")


def build_form(definition: dict[str, Any], prefill: dict[str, Any] | None = None) -> FlaskForm:
    """The definition's Flask-WTF form: bound to the request on POST, else prefilled."""
    loc = locale()
    cls = form_class(definition, loc, DatabaseChoices(db.session), base=FlaskForm)
    meta = {"locales": ["en" if loc == "en" else "zh"]}
    if request.method == "POST":
        return cls(meta=meta)
    return cls(formdata=None, data=to_form_values(definition, prefill or {}), meta=meta)


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
        if name not in data or ftype in ("file", "files"):
            continue
        if ftype == "group":
            rows = data[name] if isinstance(data[name], list) else []
            values[name] = [
                {sub["name"]: _convert(sub, row.get(sub["name"])) for sub in spec["fields"]
                 if sub["type"] not in ("file", "files")}
                for row in rows if isinstance(row, dict)
            ]
        else:
            converted = _convert(spec, data[name])
            if converted is not None:
                values[name] = converted
    return values


def store_upload(upload: Any) -> dict[str, Any]:
    """Save an uploaded file under UPLOAD_DIR by its content hash."""
    return attachments.store(
        current_app.config["UPLOAD_DIR"], upload, current_app.config.get("MAX_CONTENT_LENGTH")
    )


def submitted_data(form: FlaskForm, definition: dict[str, Any],
                   existing: dict[str, list[dict[str, Any]]] | None = None) -> dict[str, Any]:
    """The form's data as task data; file fields left empty keep the files already there."""
    data = form_data(form, definition, store_upload)
    for name, files in (existing or {}).items():
        if data.get(name) in (None, []):
            spec = next(s for s in definition["fields"] if s["name"] == name)
            data[name] = files if spec["type"] == "files" else files[0]
    return data


def existing_files(definition: dict[str, Any], data: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Files already in the task data, by field name (file inputs cannot be prefilled)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for spec in definition.get("fields", []):
        if spec["type"] in ("file", "files") and data.get(spec["name"]):
            value = data[spec["name"]]
            found[spec["name"]] = [v for v in (value if isinstance(value, list) else [value]) if isinstance(v, dict)]
    return found


def check_files(form: FlaskForm, definition: dict[str, Any], existing: dict[str, list] | None = None) -> bool:
    """Required file fields and ``max_files`` (formkit leaves file inputs optional); call after validate."""
    from flask_babel import gettext as _

    ok = True
    for spec in definition.get("fields", []):
        if spec["type"] not in FILE_TYPES:
            continue
        fld = form[spec["name"]]
        files = fld.data if isinstance(fld.data, list) else [fld.data]
        files = [f for f in files if f and getattr(f, "filename", "")]
        if spec.get("required") and not files and not (existing or {}).get(spec["name"]):
            fld.errors = [*fld.errors, _("Please choose a file.")]
            ok = False
        limit = spec.get("max_files")
        if spec["type"] == "files" and isinstance(limit, int) and len(files) > limit:
            fld.errors = [*fld.errors, _("At most %(n)d files.", n=limit)]
            ok = False
    return ok
