"""The who-may properties of a user task and their deploy checks.

- ``performer``: who of the task's department may complete it — ``head`` (a head of the
  task's department) or a role name (``quality_engineer``, ``manager``, …); several values
  separated by commas mean any of them. Without it every member may.
- ``approval``: the task is an approval item of that kind (shown on /approvals).
- ``submittedBy``: element id(s) of the task(s) whose completer may not complete this one
  (four-eyes); an approval task needs it.

The engine only checks the grammar; what the values mean is decided by ``app.services.policy``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from app.data.models import ROLES

HEAD = "head"
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
