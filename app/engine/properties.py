"""The who-may properties of a user task and their deploy checks.

- ``performer``: who of the task's department may complete it — ``head`` (a head of the
  task's department) or a role name (``quality_engineer``, ``manager``, …); several values
  separated by commas mean any of them. Without it every member may.
- ``approval``: the task is an approval item of that kind (shown on /approvals).
- ``submittedBy``: element id(s) of the task(s) whose completer may not complete this one
  (four-eyes); an approval task needs it.

And of a (plain) start event:

- ``manualStart``: who may start the process by hand — ``head:<department>`` (a head of that
  department) or a role name; several values separated by commas mean any of them. Without
  it nobody may: such a process is started by the application (a case, a schedule, a message).
- ``startForm``: the form (``forms/<key>.json``) that validates the data of a start by hand;
  without it a start by hand takes no data.

The engine only checks the grammar; what the values mean is decided by ``app.services.policy``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from app.data.models import ROLES

HEAD = "head"
#: ``head:<department>`` in ``manualStart``: a head of that department
HEAD_OF = "head:"
ACCESS_PROPERTIES = ("performer", "approval", "submittedBy")


def listed(value: str | None) -> tuple[str, ...]:
    """The values of a comma-separated property, in order, without blanks or repeats."""
    return tuple(dict.fromkeys(part.strip() for part in (value or "").split(",") if part.strip()))


def access_problems(
    props: Mapping[str, str],
    user_task: bool,
    user_task_ids: Collection[str],
    known_approvals: Collection[str] | None,
) -> list[str]:
    """What is wrong with a task's ``performer``, ``approval`` and ``submittedBy`` properties."""
    present = [name for name in ACCESS_PROPERTIES if name in props]
    if not user_task:
        return [f"{name} belongs on a user task" for name in present]
    problems: list[str] = []
    if "performer" in props:
        values = listed(props["performer"])
        if not values:
            problems.append(f"performer is empty; use '{HEAD}' or a role ({', '.join(ROLES)})")
        for value in values:
            if value != HEAD and value not in ROLES:
                problems.append(f"unknown performer '{value}'; use '{HEAD}' or a role ({', '.join(ROLES)})")
    approval = props.get("approval")
    if approval is not None:
        if known_approvals is not None and approval not in known_approvals:
            problems.append(f"unknown approval kind '{approval}'; known kinds: {', '.join(sorted(known_approvals))}")
        if not listed(props.get("submittedBy")):
            problems.append("an approval task needs submittedBy: the id(s) of the task(s) whose work it decides")
    for element in listed(props.get("submittedBy")):
        if element not in user_task_ids:
            problems.append(f"submittedBy names '{element}', which is not a user task of this process")
    return problems


def project_access(row: Any, props: Mapping[str, str]) -> None:
    """Copy the who-may properties onto a ``human_task`` row (projection and instance migration)."""
    row.performer = ",".join(listed(props.get("performer"))) or None
    row.approval = props.get("approval") or None
    context = {k: v for k, v in (row.context or {}).items() if k != "submitted_by"}
    if listed(props.get("submittedBy")):
        context["submitted_by"] = list(listed(props.get("submittedBy")))
    row.context = context


def head_of(value: str) -> str | None:
    """The department (code or name, lower case) of a ``head:<department>`` value, else None."""
    if not value.startswith(HEAD_OF):
        return None
    return value[len(HEAD_OF):].strip().lower() or None


def manual_start_problems(props: Mapping[str, str], known_departments: Collection[str] | None) -> list[str]:
    """What is wrong with a start event's ``manualStart`` value (who may start it by hand)."""
    if "manualStart" not in props:
        return []
    hint = f"use '{HEAD_OF}<department>' or a role ({', '.join(ROLES)})"
    values = listed(props["manualStart"])
    if not values:
        return [f"manualStart is empty; {hint}"]
    problems = []
    for value in values:
        department = head_of(value)
        if value.startswith(HEAD_OF):
            if department is None:
                problems.append(f"manualStart '{value}' names no department; {hint}")
            elif known_departments is not None and department not in known_departments:
                problems.append(f"manualStart names the unknown department '{department}'")
        elif value not in ROLES:
            problems.append(f"unknown manualStart '{value}'; {hint}")
    return problems
