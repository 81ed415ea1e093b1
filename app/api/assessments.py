"""Weekly assessments: start the assessment of a week by hand (idempotent per ISO week)."""

from __future__ import annotations

from flask import jsonify, url_for

from app.api import bp
from app.api.auth import api_locale, api_user, endpoint, json_body, validation_error
from app.extensions import db, lateness_basis, runtime
from app.services import starts, weekly


@bp.post("/assessments")
@endpoint()
def start_assessment():
    """Start the assessment of ``{"week": "2026-W48"}`` (a week that has ended) as its diagram allows
    (the head of Quality, admins): 201 when started, 200 with the week's instance when it was
    started already. The week's rows are computed by the server from the tasks, never sent."""
    user = api_user()
    starts.authorize(db.session, user, weekly.PROCESS_KEY)
    body = json_body()
    result = starts.start_by_hand(db.session, runtime(), user, weekly.PROCESS_KEY, data=body, locale=api_locale(),
                                  lateness_basis=lateness_basis())
    if not result.ok or result.instance is None:
        raise validation_error(result.errors)
    db.session.commit()
    instance = result.instance
    url = url_for("assessment.show", instance_id=instance.id)
    response = jsonify(instance_id=instance.id, week=weekly.week_of(instance),
                       status=instance.status, created=result.created, url=url)
    response.status_code = 201 if result.created else 200
    response.headers["Location"] = url
    return response
