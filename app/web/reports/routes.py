"""The management report for a period: a printable page and its PDF (the dashboard's filters)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.extensions import db
from app.i18n import N_
from app.services.analytics.filters import PERIODS
from app.services.documents import management_report
from app.services.documents.case_documents import LANGUAGES
from app.web.shared.display import LANGUAGES as LANGUAGE_NAMES
from app.web.shared.display import locale

bp = Blueprint("reports", __name__, url_prefix="/reports")
PERIOD_LABELS = {"week": N_("By week"), "month": N_("By month"), "quarter": N_("By quarter"),
                 "custom": N_("Custom period")}


def _lang() -> str:
    asked = request.args.get("lang")
    return asked if asked in LANGUAGES else locale()  # a bad value: the page's language


def _args() -> dict[str, Any]:
    return {k: v for k, v in request.args.items() if k != "lang" and v}


@bp.route("/management")
@login_required
def management():
    """The printable page: the report with a form to choose the period and the language."""
    lang = _lang()
    args = _args()
    _report, html = management_report.render_html(
        db.session, current_user, args, lang, for_pdf=False,
        periods=[(p, _(PERIOD_LABELS[p])) for p in PERIODS], languages=list(LANGUAGE_NAMES.items()),
        pdf_url=url_for("reports.management_pdf", **{**args, "lang": lang}),
        back_url=url_for("dashboard.index", **{**args}))
    return Response(html, mimetype="text/html")


@bp.route("/management.pdf")
@login_required
def management_pdf():
    document = management_report.export_pdf(db.session, current_user, _args(), _lang())
    db.session.commit()
    return Response(document.content, mimetype=document.media_type,
                    headers={"Content-Disposition": f'inline; filename="{document.filename}"'})
