"""Bounds on the work one engine operation may do, so no request holds the database for seconds.

Two kinds of work grow with what a diagram says rather than with what a user does: the
instances a multi-instance activity creates (its loop cardinality or the size of its input
collection) and the diagram code it runs. A multi-instance activity over more items than
``max_multi_instance`` is refused at deploy when the number is written in the diagram, and
becomes an incident at run time when it comes from data; diagram code has a CPU limit per
script (:mod:`app.engine.sandbox`) and a CPU budget per operation (all scripts and expressions
of one start, completion or timer firing together).

The limits are configured once per process by the app factory (``MAX_MULTI_INSTANCE`` and
``SCRIPT_CPU_BUDGET_SECONDS`` in config.py). An incident's text is stored in English; the
pages show it in the reader's language through :func:`translate_incident`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable, Sized
from dataclasses import dataclass
from typing import Any

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask

from app.i18n import N_

DEFAULT_MAX_MULTI_INSTANCE = 200
DEFAULT_SCRIPT_CPU_BUDGET = 3.0

TOO_MANY_INSTANCES = N_(
    "The multi-instance activity would create %(count)s instances; at most %(limit)s are allowed "
    "(MAX_MULTI_INSTANCE).")
TOO_MANY_INSTANCES_STATIC = N_(
    "The loop cardinality %(count)s is larger than the %(limit)s instances a multi-instance activity may create "
    "(MAX_MULTI_INSTANCE): split the work or use a collection.")
CPU_BUDGET_EXCEEDED = N_(
    "The diagram's scripts and expressions used more than %(limit)s s of CPU time in one step "
    "(SCRIPT_CPU_BUDGET_SECONDS).")
STALLED = N_("The process stalled: nothing is ready or waiting, but it has not ended.")

#: incident texts (English templates) that :func:`translate_incident` recognises
INCIDENT_MESSAGES = (TOO_MANY_INSTANCES, CPU_BUDGET_EXCEEDED, STALLED)


@dataclass
class Limits:
    max_multi_instance: int = DEFAULT_MAX_MULTI_INSTANCE
    script_cpu_budget: float = DEFAULT_SCRIPT_CPU_BUDGET


#: the process-wide limits (the app factory sets them from the configuration)
settings = Limits()


def configure(max_multi_instance: int | None = None, script_cpu_budget: float | None = None) -> None:
    if max_multi_instance is not None:
        settings.max_multi_instance = int(max_multi_instance)
    if script_cpu_budget is not None:
        settings.script_cpu_budget = float(script_cpu_budget)


class LimitExceeded(WorkflowTaskException):  # type: ignore[misc]  # untyped library
    """An operation would do more work than allowed; the runtime turns it into an incident."""


def _size(value: Any) -> int:
    return len(value) if isinstance(value, Sized) else 0


def instance_count(spec: MultiInstanceTask, my_task: Any) -> int:
    """How many instances the activity is about to create (before the library creates them)."""
    if spec.data_input is not None:
        return _size(spec.data_input.get(my_task)) if spec.data_input.exists(my_task) else 0
    if spec.cardinality is None:
        return 0
    count = my_task.workflow.script_engine.evaluate(my_task, spec.cardinality)
    return count if isinstance(count, int) else 0


def _checked_update_hook(self: MultiInstanceTask, my_task: Any) -> Any:
    # the base hook first: it hands the task its data (and runs a pre-script) the count reads
    result = super(MultiInstanceTask, self)._update_hook(my_task)
    limit = getattr(my_task.workflow.script_engine, "max_multi_instance", settings.max_multi_instance)
    count = instance_count(self, my_task)
    if count > limit:
        raise LimitExceeded(TOO_MANY_INSTANCES % {"count": count, "limit": limit}, task=my_task)
    return result


def install() -> None:
    """Idempotently make every multi-instance activity count its instances before creating them
    (the library's sequential and parallel variants both call this hook first)."""
    MultiInstanceTask._update_hook = _checked_update_hook


def static_cardinality(spec: Any) -> int | None:
    """The loop cardinality written in the diagram as a plain number, else None."""
    text = getattr(spec, "cardinality", None)
    if not isinstance(spec, MultiInstanceTask) or not isinstance(text, str):
        return None
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError):
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def cardinality_problems(task_specs: Iterable[Any]) -> list[tuple[Any, dict[str, int]]]:
    """The multi-instance activities whose written cardinality exceeds the limit, with the
    message parameters."""
    limit = settings.max_multi_instance
    return [(ts, {"count": count, "limit": limit}) for ts in task_specs
            if (count := static_cardinality(ts)) is not None and count > limit]


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"%\((\w+)\)s", template)
    regex = "".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>.+?)" for i, part in enumerate(parts))
    return re.compile(regex + "$")


_PATTERNS = [(template, _pattern(template)) for template in INCIDENT_MESSAGES]


def translate_incident(message: str | None, translate: Callable[..., str]) -> str:
    """An incident text in the reader's language: a known message (possibly after an
    ``element (name): `` prefix) is translated, anything else is shown as stored."""
    if not message:
        return ""
    for template, pattern in _PATTERNS:
        found = pattern.search(message)
        if found:
            return message[:found.start()] + translate(template, **found.groupdict())
    return message


install()
