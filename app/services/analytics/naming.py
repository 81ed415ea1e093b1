"""Labels of report keys in the reader's language: catalogue msgids translated, departments by
their names, intake choices (type, category, channel) by the labels of the deployed intake form."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from app.data.queries import analytics as q
from app.services.analytics import labels as L

INTAKE_FORM = "case_intake"
CHOICE_FIELDS = ("feedback_type", "category", "channel", "urgency")


def _identity(message: str) -> str:
    return message


@dataclass
class Labels:
    """Names for keys; ``gettext`` translates catalogue msgids (identity: the msgid, English)."""

    session: Session
    locale: str = "zh"
    gettext: Callable[[str], str] = _identity
    _departments: dict[int, tuple[str, str, str]] | None = None
    _choices: dict[str, dict[str, str]] | None = None
    _by_code: dict[str, int] = field(default_factory=dict)

    def text(self, msgid: str) -> str:
        return self.gettext(msgid)

    @property
    def departments(self) -> dict[int, tuple[str, str, str]]:
        if self._departments is None:
            self._departments = q.department_codes(self.session)
            self._by_code = {code: id_ for id_, (code, _zh, _en) in self._departments.items()}
        return self._departments

    def department_code(self, department_id: int | None) -> str:
        if department_id is None or department_id not in self.departments:
            return L.NONE_KEY
        return self.departments[department_id][0]

    def department_id(self, code: str) -> int | None:
        self.departments  # noqa: B018 - loads the code index
        return self._by_code.get(code)

    def department(self, department_id: int | None) -> str:
        if department_id is None or department_id not in self.departments:
            return self.text(L.NONE_LABEL)
        _code, zh, en = self.departments[department_id]
        return zh if self.locale == "zh" else en

    def choices(self, name: str) -> dict[str, str]:
        """value → label of the intake form's field ``name`` (type, category, channel, urgency)."""
        if self._choices is None:
            self._choices = _intake_choices(q.latest_form_content(self.session, INTAKE_FORM) or {}, self.locale)
        return self._choices.get(name, {})

    def choice(self, name: str, value: str | None) -> str:
        """The intake form's label of ``value`` for field ``name`` (the value itself if unknown)."""
        if not value or value == L.NONE_KEY:
            return self.text(L.NONE_LABEL)
        return self.choices(name).get(value, value)

    def key(self, dimension: str, value: Any) -> str:
        """The label of ``value`` of a report dimension."""
        if dimension in CHOICE_FIELDS:
            return self.choice(dimension, value)
        if dimension == "department":
            return self.department(self.department_id(value) if isinstance(value, str) else value)
        table = {"cause": L.ROOT_CAUSES, "stage": L.STAGES, "charge": L.CHARGES, "clock": L.CLOCKS,
                 "cost": L.COSTS, "age": {k: label for k, label, _lo, _hi in L.AGE_BUCKETS},
                 "score": {str(k): v for k, v in L.SATISFACTION_LEVELS.items()}}.get(dimension)
        if value is None or value == L.NONE_KEY:
            return self.text(L.NONE_LABEL)
        if table is not None:
            if dimension == "stage" and value == L.WHOLE_CASE:
                return self.text(L.WHOLE_CASE_LABEL)
            return self.text(table[str(value)]) if str(value) in table else str(value)
        return str(value)


def _intake_choices(content: dict[str, Any], locale: str) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for spec in content.get("fields") or []:
        if spec.get("name") in CHOICE_FIELDS:
            out[spec["name"]] = {str(c.get("value")): _text(c.get("label"), locale) or str(c.get("value"))
                                 for c in spec.get("choices") or []}
    return out


def _text(label: Any, locale: str) -> str:
    if isinstance(label, dict):
        return str(label.get(locale) or label.get("zh") or label.get("en") or "")
    return str(label or "")
