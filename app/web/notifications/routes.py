"""Notifications: the bell's list, mark read, and per-user opt-outs per kind and channel."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.data.models.notifications import NotificationKind
from app.extensions import db
from app.i18n import N_
from app.services import notifications as service

bp = Blueprint("notifications", __name__, url_prefix="/notifications")
PAGE_SIZE = 50

KIND_LABELS = {
    NotificationKind.NEW_TASK: N_("New task for my department"),
    NotificationKind.ASSIGNED: N_("Task assigned to me"),
    NotificationKind.DUE_SOON: N_("Task due soon"),
    NotificationKind.OVERDUE: N_("Task overdue"),
    NotificationKind.ESCALATED: N_("Overdue task escalated to me"),
    NotificationKind.REWORK: N_("Task returned for rework"),
    NotificationKind.MENTION: N_("Mentioned in a comment on a case"),
    NotificationKind.REPEAT_ALERT: N_("Alert on repeated problems (Quality)"),
}


def notification_text(note) -> str:
    """The notification's one line in the user's language."""
    return service.render_subject(note.kind, note.params or {}, service.user_locale(current_user),
                                  current_user.timezone)


@bp.route("/")
@login_required
def index():
    page = max(request.args.get("page", 1, type=int), 1)
    rows = service.user_notifications(db.session, current_user.id, PAGE_SIZE + 1, (page - 1) * PAGE_SIZE)
    items = [(note, notification_text(note)) for note in rows[:PAGE_SIZE]]
    return render_template("notifications/index.html", title=_("Notifications"), items=items, page=page,
                           has_more=len(rows) > PAGE_SIZE, local_time=service.local_time)


@bp.route("/<int:notification_id>/read", methods=["POST"])
@login_required
def read(notification_id: int):
    service.mark_read(db.session, current_user.id, notification_id)
    db.session.commit()
    target = request.form.get("next") or ""
    if target.startswith("/") and not target.startswith("//"):
        return redirect(target)
    return redirect(url_for("notifications.index"))


@bp.get("/<int:notification_id>/open")
@login_required
def open_one(notification_id: int):
    """Open a notification: it is read now, and its task (else its case) is shown."""
    note = service.open_notification(db.session, current_user.id, notification_id)
    if note is None:
        abort(404)
    db.session.commit()
    alert_id = (note.params or {}).get("alert_id")
    if note.kind == NotificationKind.REPEAT_ALERT and isinstance(alert_id, int):
        return redirect(url_for("alerts.show", alert_id=alert_id))
    if note.task_id:
        return redirect(url_for("tasks.show", task_id=note.task_id))
    if note.case_id:
        return redirect(url_for("cases.show", case_id=note.case_id))
    return redirect(url_for("notifications.index"))


@bp.route("/read-all", methods=["POST"])
@login_required
def read_all():
    count = service.mark_read(db.session, current_user.id)
    db.session.commit()
    flash(_("%(count)s notifications marked as read.", count=count), "success")
    target = request.form.get("next") or ""
    if target.startswith("/") and not target.startswith("//"):
        return redirect(target)
    return redirect(url_for("notifications.index"))


@bp.route("/settings", methods=["GET", "POST"])
@login_required
def settings():
    if request.method == "POST":
        from flask_wtf.csrf import validate_csrf
        from wtforms.validators import ValidationError

        try:
            validate_csrf(request.form.get("csrf_token"))
        except ValidationError:
            abort(400)
        # A ticked box means "send me this"; everything unticked is an opt-out.
        chosen = {
            (kind, channel)
            for kind in NotificationKind.ALL
            for channel in service.CHANNELS
            if not request.form.get(f"{kind}:{channel}")
        }
        service.set_opt_outs(db.session, current_user.id, chosen)
        db.session.commit()
        flash(_("Notification settings saved."), "success")
        return redirect(url_for("notifications.settings"))
    return render_template("notifications/settings.html", title=_("Notification settings"),
                           kinds=[(k, _(label)) for k, label in KIND_LABELS.items()],
                           opted_out=service.opt_outs(db.session, current_user.id))
