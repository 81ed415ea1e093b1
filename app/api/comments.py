"""Comments on a case: read them, add one (its @mentions are notified)."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request

from app.api import bp
from app.api.auth import api_user, endpoint, int_id, iso, json_body, validation_error
from app.data.models import CaseComment, User
from app.engine.errors import NotFound
from app.extensions import db
from app.i18n import N_
from app.services import comments
from app.services.errors import InvalidInput


def _case_id(case_id: str) -> int:
    number = int_id(case_id)
    if number is None:
        raise NotFound(N_("Case not found."))
    return number


def comment_item(comment: CaseComment) -> dict[str, Any]:
    author = db.session.get(User, comment.author_id) if comment.author_id else None
    mentioned = [db.session.get(User, i) for i in comment.mentions or []]
    return {
        "id": comment.id,
        "case_id": comment.case_id,
        "author": author.username if author else None,
        "author_name": author.display_name if author else None,
        "body": comment.body,
        "internal": comment.internal,
        "mentions": [u.username for u in mentioned if u is not None],
        "created_at": iso(comment.created_at),
    }


@bp.get("/cases/<case_id>/comments")  # not <int:>: an id too large for it would answer 405
@endpoint()
def list_comments(case_id: str):
    """The case's comments, oldest first."""
    rows = comments.comments_of(db.session, api_user(), _case_id(case_id))
    return jsonify(comments=[comment_item(c) for c in rows])


@bp.post("/cases/<case_id>/comments")
@endpoint()
def add_comment(case_id: str):
    """Add a comment (``{"body": "...", "internal": true}``); @usernames are notified."""
    case = comments.visible_case(db.session, api_user(), _case_id(case_id))  # refused before reading input
    body = json_body()
    errors: dict[str, list[str]] = {}
    if not isinstance(body.get("body"), str):
        errors["body"] = [N_("Write a comment first.")]
    if "internal" in body and not isinstance(body["internal"], bool):
        errors["internal"] = [N_("true or false.")]
    unknown = sorted(set(body) - {"body", "internal"})
    errors.update({name: [N_("Unknown field.")] for name in unknown})
    if errors:
        raise validation_error(errors)
    try:
        posted = comments.add_comment(db.session, api_user(), case.id, body["body"],
                                      internal=body.get("internal", True))
    except InvalidInput as exc:
        raise validation_error({"body": [exc.message]}) from exc
    db.session.commit()
    response = jsonify({**comment_item(posted.comment), "not_notified": posted.not_notified})
    response.status_code = 201
    response.headers["Location"] = request.path
    return response
