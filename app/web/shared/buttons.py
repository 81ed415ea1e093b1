"""The claim / release buttons of a task: one writer for the inbox's rows and the task page.

A page of many rows makes one :class:`TaskButtons` (the CSRF token, the return URL, the labels
and the form around the task's link prepared once) and asks it per row; the task page asks
:func:`task_buttons` for its one task.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask_babel import gettext
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup, escape

from app.web.shared.links import row_url

_FORM = ('\n<form method="post" action="%s" class="d-inline">\n'
         '  <input type="hidden" name="csrf_token" value="%s">\n'
         '  <input type="hidden" name="next" value="%s">\n'
         '  <button type="submit" class="btn btn-sm %s" data-testid="%s">%s</button>\n'
         '</form>\n')


class TaskButtons:
    """Claim (unassigned task the user may take) or release (their own) for many tasks."""

    def __init__(self, next_url: str, gettext: Callable[[str], str] = gettext) -> None:
        csrf, back = escape(generate_csrf()), escape(next_url)
        # the form split around its action URL, the one part that differs from task to task
        self._forms = {
            kind: (_FORM % ("\0", csrf, back, style, testid, gettext(label))).split("\0")
            for kind, style, testid, label in (("claim", "btn-outline-primary", "claim-button", "Claim"),
                                               ("release", "btn-outline-secondary", "release-button", "Release"))
        }
        self._urls = {kind: row_url(f"inbox.{kind}", "task_id", "row-task-id") for kind in self._forms}

    def __call__(self, task_id: Any, may_claim: bool, may_release: bool) -> Markup:
        kind = "claim" if may_claim else "release" if may_release else None
        if kind is None:
            return Markup("")
        head, tail = self._forms[kind]
        return Markup(head + str(escape(self._urls[kind](task_id))) + tail)  # noqa: S704 - escaped, our own text


def task_buttons(task: Any, may_claim: bool, may_release: bool, next_url: str) -> Markup:
    """The buttons of one task (the task page)."""
    return TaskButtons(next_url)(task.id, may_claim, may_release)
