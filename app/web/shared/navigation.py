"""The navigation bar and the header's live bits, registered once for every template:
the entries a user may use (by the policy) with count badges, the bell's unread count and the
admins' working-calendar warning."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from flask import Flask, current_app, g
from flask_babel import get_translations, gettext
from flask_login import current_user
from markupsafe import Markup

from app.clock import clock
from app.data.models import AlertStatus
from app.data.queries.alerts import clusters_query
from app.data.queries.inbox import InboxScope, tab_counts
from app.data.queries.paging import count_rows
from app.extensions import db
from app.services import approvals, calendar_admin, notifications, policy
from app.services import inbox as inbox_service

log = logging.getLogger(__name__)


def standing() -> policy.StandIn:
    """Whom the signed-in user stands in for today, looked up once per request (the inbox, its
    counts and the approvals entry and badge all ask)."""
    if "nav_standing" not in g:
        g.nav_standing = policy.stand_in(current_user)
    return g.nav_standing


def inbox_scope() -> InboxScope:
    """The signed-in user's inbox scope, worked out once per request."""
    if "nav_inbox_scope" not in g:
        g.nav_inbox_scope = inbox_service.scope_for(current_user, standing())
    return g.nav_inbox_scope


def remember_counts(mine: int | None = None, unclaimed: int | None = None) -> None:
    """Counts a page has already made (the inbox's own tabs), so the badges don't count again."""
    if mine is not None:
        g.inbox_open_count = mine
    if unclaimed is not None:
        g.inbox_unclaimed_count = unclaimed


def _may_use_approvals(user: Any) -> bool:
    return approvals.may_use(db.session, user, standing())


#: (endpoint, label, who sees the entry: a predicate of the policy, or None for everyone)
NAV: tuple[tuple[str, str, Callable[[Any], bool] | None], ...] = (
    ("inbox.index", "Inbox", None),
    ("cases.new_case", "New case", policy.may_open_case),
    ("cases.index", "Cases", policy.may_list_cases),
    ("approvals.index", "Approvals", _may_use_approvals),
    ("assessment.index", "Weekly assessments", policy.may_read_assessments),
    ("dashboard.index", "Dashboard", policy.may_view_analytics),
    ("alerts.index", "Alerts", policy.may_view_alerts),
    ("admin.users", "Administration", policy.may_administer),
    ("calendar_admin.index", "Working calendar", policy.may_administer),
    ("designer.index", "Process designer", policy.may_design),
    ("audit.index", "Audit trail", policy.may_explore_audit),
)

_BADGE = Markup(' <span class="badge rounded-pill text-bg-light" data-testid="nav-count-{}">{}</span>')


def _count_badges() -> None:
    """The inbox entry's two badges ("mine" and the departments' unclaimed queue) in one statement
    (they were one each on every page the inbox did not count them for)."""
    counts = tab_counts(db.session, inbox_scope(), clock.now())
    g.setdefault("inbox_open_count", counts["mine"])
    g.setdefault("inbox_unclaimed_count", counts["unclaimed"])


def my_open_count() -> int:
    """The signed-in user's open tasks ("mine"), counted once per request."""
    if "inbox_open_count" not in g:
        _count_badges()
    return int(g.inbox_open_count)


def unclaimed_count() -> int:
    """Unclaimed open tasks in the signed-in user's departments, counted once per request."""
    if "inbox_unclaimed_count" not in g:
        _count_badges()
    return int(g.inbox_unclaimed_count)


#: notifications the bell's dropdown shows
BELL_SIZE = 8

_QUEUE_BADGE = Markup(' <span class="badge rounded-pill text-bg-warning" data-testid="nav-queue-count" '
                      'title="{}">+{}</span>')


def _queue_badge() -> Markup:
    """The inbox entry's second badge: work waiting unclaimed in the user's departments."""
    try:
        waiting = unclaimed_count()
    except Exception:  # noqa: BLE001 - a badge must never break a page
        log.exception("navigation count failed")
        return Markup("")
    if not waiting:
        return Markup("")
    return _QUEUE_BADGE.format(gettext("%(count)d unclaimed in your departments' queue", count=waiting), waiting)


def _badge_count(endpoint: str) -> int | None:
    """The count shown on a nav entry (None: no badge); a failing count never breaks a page."""
    try:
        if endpoint == "inbox.index":
            return my_open_count()
        if endpoint == "approvals.index":
            return approvals.count_pending(db.session, current_user._get_current_object(), standing())
        if endpoint == "alerts.index":
            return count_rows(db.session, clusters_query(AlertStatus.OPEN))
    except Exception:  # noqa: BLE001 - a badge must never break a page
        log.exception("navigation count failed")
    return None


def nav_items() -> list[tuple[str, Any]]:
    """(endpoint, translated label with its badge) for the entries this user may use."""
    if not getattr(current_user, "is_authenticated", False):
        return []
    items: list[tuple[str, Any]] = []
    # the user and the translations looked up once, not per entry (each through a request proxy)
    user, translations, views = current_user._get_current_object(), get_translations(), current_app.view_functions
    for endpoint, label, allowed in NAV:
        if endpoint not in views or (allowed is not None and not allowed(user)):
            continue
        count = _badge_count(endpoint)
        text = translations.ugettext(label)
        entry = text if count is None else Markup("{}").format(text) + _BADGE.format(endpoint.split(".")[0], count)
        if endpoint == "inbox.index":
            entry = Markup("{}").format(entry) + _queue_badge()
        items.append((endpoint, entry))
    return items


def _bell(limit: int) -> tuple[int, Sequence[Any]]:
    """The bell's unread count and its latest notifications, read once per request in one
    statement (the count and the dropdown asked one each)."""
    cache = g.setdefault("nav_bell", {})
    if limit not in cache:
        cache[limit] = notifications.bell(db.session, current_user.id, limit)
    return cache[limit]


def unread_notifications() -> int:
    if not getattr(current_user, "is_authenticated", False):
        return 0
    return _bell(BELL_SIZE)[0]


def recent_notifications(limit: int = BELL_SIZE) -> list[tuple[Any, str]]:
    """The bell's dropdown: the user's latest notifications with their text."""
    if not getattr(current_user, "is_authenticated", False):
        return []
    try:
        rows = _bell(limit)[1]
        locale = notifications.user_locale(current_user)
        return [(note, notifications.render_subject(note.kind, note.params or {}, locale, current_user.timezone))
                for note in rows]
    except Exception:  # noqa: BLE001 - the bell must never break a page
        log.exception("recent notifications failed")
        return []


def calendar_years_missing() -> list[int]:
    if not getattr(current_user, "is_authenticated", False) or not policy.may_administer(current_user):
        return []
    return calendar_admin.years_needing_entries(db.session)


def register_navigation(app: Flask) -> None:
    app.jinja_env.globals.update(
        nav_items=nav_items, inbox_open_count=my_open_count, unread_notifications=unread_notifications,
        recent_notifications=recent_notifications,
        calendar_years_missing=calendar_years_missing,
    )
