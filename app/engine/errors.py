"""Errors the engine service raises; each carries a message fit to show a user."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.errors import AppError


class EngineError(AppError):
    """Base of all engine errors."""

    code = "engine_error"


Translate = Callable[..., str]


def _untranslated(message: str, **params: Any) -> str:
    return message % params if params else message


@dataclass(frozen=True)
class Problem:
    """One problem found in a BPMN file, tied to the element it concerns.

    ``message`` is a catalogue key (marked with ``N_``) with ``%(name)s`` placeholders filled
    from ``params``, so the web and API layers can show it in the user's language.
    """

    message: str
    element_id: str = ""
    element_name: str = ""
    file_name: str = ""
    line: int | None = None
    severity: str = "error"
    params: dict[str, Any] = field(default_factory=dict, hash=False)

    def text(self, translate: Translate = _untranslated) -> str:
        """The message alone, translated by ``translate`` (e.g. flask_babel's gettext)."""
        return translate(self.message, **self.params)

    def describe(self, translate: Translate = _untranslated) -> str:
        line = translate("line %(n)s", n=self.line) if self.line else ""
        where = self.element_id or line or self.file_name
        if self.element_id and self.line:
            where = f"{where}, {line}"
        label = f"{where} ({self.element_name})" if self.element_name else where
        message = self.text(translate)
        return f"{label}: {message}" if label else message

    def as_dict(self, translate: Translate = _untranslated) -> dict[str, object]:
        return {
            "message": self.text(translate),
            "element_id": self.element_id,
            "element_name": self.element_name,
            "file": self.file_name,
            "line": self.line,
            "severity": self.severity,
        }


@dataclass
class DefinitionError(EngineError):
    """A BPMN file (or a form it references) cannot be deployed."""

    problems: list[Problem] = field(default_factory=list)
    code = "invalid_definition"

    def __post_init__(self) -> None:
        text = "; ".join(p.describe() for p in self.problems) or "invalid process definition"
        EngineError.__init__(self, text)


class NotFound(EngineError):
    code = "not_found"


class TaskNotOpen(EngineError):
    """The task was completed, cancelled or moved on by someone else."""

    code = "task_not_open"


class ConcurrentUpdate(EngineError):
    """Another transaction changed the instance first; the caller may retry."""

    code = "concurrent_update"


class InstanceNotRunning(EngineError):
    code = "instance_not_running"


class UnsupportedSaveFormat(EngineError):
    """An instance's saved state is in a serializer format with no migration to the current one."""

    code = "unsupported_save_format"
