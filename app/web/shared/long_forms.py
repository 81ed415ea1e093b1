"""Long forms: the sections a form declares, for the headings and the navigation of its page."""

from __future__ import annotations

from typing import Any

from flask import Flask

from app.formkit.definition import sections
from app.web.shared.display import locale


def form_sections(definition: dict[str, Any] | None) -> dict[str, dict[str, str]]:
    """The form's sections by the field each starts at (empty when it declares none)."""
    return {s["from"]: s for s in sections(definition or {}, locale())}


def register_long_forms(app: Flask) -> None:
    app.jinja_env.globals.update(form_sections=form_sections,
                                 section_list=lambda definition: sections(definition or {}, locale()))
