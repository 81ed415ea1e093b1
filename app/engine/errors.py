"""Errors the engine service raises; each carries a message fit to show a user."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.errors import AppError


class EngineError(AppError):
    """Base of all engine errors."""

    code = "engine_error"


@dataclass(frozen=True)
class Problem:
    """One problem found in a BPMN file, tied to the element it concerns."""

    message: str
    element_id: str = ""
    element_name: str = ""
    file_name: str = ""
    line: int | None = None
    severity: str = "error"

    def describe(self) -> str:
        where = self.element_id or (f"line {self.line}" if self.line else self.file_name)
        label = f"{where} ({self.element_name})" if self.element_name else where
        return f"{label}: {self.message}" if label else self.message

    def as_dict(self) -> dict[str, object]:
        return {
            "message": self.message,
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
