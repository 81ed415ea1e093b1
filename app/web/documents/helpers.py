"""Template helpers of the printable documents: one field of a submitted form as its label and
its value for people, in the document's language (the labels come from the form definitions,
which carry both languages)."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_babel import gettext as _

from app.formkit.definition import localized
from app.web.shared.display import AUDIT_ACTIONS, display_value, locale, readable


def _spec(filled: Any, name: str) -> dict[str, Any] | None:
    definition = getattr(filled, "definition", None) or {}
    return next((f for f in definition.get("fields") or [] if f.get("name") == name), None)


def doc_label(filled: Any, name: str, fallback: str = "") -> str:
    """The field's label in the document's language (``fallback`` when the form has no such field)."""
    spec = _spec(filled, name)
    return localized(spec.get("label"), locale()) if spec else fallback


def doc_value(filled: Any, name: str) -> str:
    """The field's value for people; empty when the form was not filled (a blank on the paper form)."""
    spec = _spec(filled, name)
    if filled is None or spec is None or name not in (filled.data or {}):
        return ""
    return display_value(spec, filled.data[name], locale())


def doc_rows(filled: Any, name: str) -> list[dict[str, str]]:
    """The rows of a repeating group, each as {column name: value for people}."""
    spec = _spec(filled, name)
    rows = (filled.data or {}).get(name) if filled is not None else None
    if spec is None or not isinstance(rows, list):
        return []
    return [{sub["name"]: display_value(sub, row.get(sub["name"]), locale()) for sub in spec.get("fields") or []}
            for row in rows if isinstance(row, dict)]


def doc_choices(filled: Any, name: str, skip: tuple[str, ...] = ()) -> list[tuple[str, bool]]:
    """A choice field as the paper form prints it: every choice's label (but ``skip``), ticked or not."""
    spec = _spec(filled, name)
    if spec is None:
        return []
    value = (filled.data or {}).get(name) if filled is not None else None
    chosen = {str(v) for v in (value if isinstance(value, list) else [value]) if v is not None}
    return [(localized(c.get("label", c["value"]), locale()), str(c["value"]) in chosen)
            for c in spec.get("choices") or [] if c["value"] not in skip]


def doc_items(filled: Any, filled_only: bool = False) -> list[dict[str, Any]]:
    """The form's fields as ``{"label", "value"}`` (groups with ``rows``), in the form's order;
    ``filled_only`` leaves out those left empty."""
    items = readable(getattr(filled, "definition", None), getattr(filled, "data", None))
    if filled_only:
        items = [i for i in items if i.get("rows") or i.get("value") not in (None, "", "—")]
    return items


def doc_title(ref: Any) -> str:
    """A document's title in the document's language; an 8D report names its department."""
    title = _(ref.title)
    return f"{title} · {ref.department.name(locale())}" if getattr(ref, "department", None) else title


def audit_action_label(action: str) -> str:
    return _(AUDIT_ACTIONS[action]) if action in AUDIT_ACTIONS else action


def register_document_helpers(app: Flask) -> None:
    app.jinja_env.globals.update(
        doc_label=doc_label, doc_value=doc_value, doc_rows=doc_rows, doc_choices=doc_choices, doc_items=doc_items,
        doc_title=doc_title, audit_action_label=audit_action_label,
    )
