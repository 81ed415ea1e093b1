"""Comments on a case from its page: add one (its @mentions are notified); the case page shows
them in its timeline."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.extensions import db
from app.services import comments

bp = Blueprint("comments", __name__, url_prefix="/cases")


@bp.post("/<int:case_id>/comments")
@login_required
def add(case_id: int):
    """Add the user's comment to the case (internal unless marked for the customer)."""
    posted = comments.add_comment(db.session, current_user, case_id, request.form.get("body", ""),
                                  internal=request.form.get("visibility", "internal") != "customer")
    db.session.commit()
    flash(_("Comment added."), "success")
    if posted.notified:
        flash(_("Notified: %(names)s", names=", ".join(u.display_name for u in posted.notified)), "info")
    if posted.not_notified:
        flash(_("Not notified (unknown user, or they may not see this case): %(names)s",
                names=", ".join("@" + n for n in posted.not_notified)), "warning")
    return redirect(url_for("cases.show", case_id=case_id, _anchor="comment-form"))
