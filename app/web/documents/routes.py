"""The case's printable documents (PDF): downloads, and the list the case page shows."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request, url_for
from flask_login import current_user, login_required

from app.data.models import Case
from app.extensions import db
from app.services import policy
from app.services.documents import case_documents
from app.web.documents.helpers import doc_title, register_document_helpers
from app.web.shared.display import LANGUAGES, locale

bp = Blueprint("documents", __name__, url_prefix="/cases")


@bp.record_once
def _register(state) -> None:
    register_document_helpers(state.app)


@bp.route("/<int:case_id>/documents/<doc>.pdf")
@login_required
def download(case_id: int, doc: str):
    """One document as PDF, in ``?lang=zh|en`` (default: the page's language)."""
    lang = request.args.get("lang") or locale()  # checked after the case's visibility: a clear 400
    document = case_documents.export(db.session, current_user, case_id, doc, lang, current_app.config["UPLOAD_DIR"])
    db.session.commit()
    return Response(document.content, mimetype=document.media_type,
                    headers={"Content-Disposition": f'inline; filename="{document.filename}"'})


@bp.app_template_global()
def case_document_links(case: Case) -> list[dict]:
    """The case's documents with a link per language, for the case page (empty for a user who
    may not export them)."""
    if not policy.may_export_case_documents(db.session, current_user, case):
        return []
    return [
        {"key": ref.key, "title": doc_title(ref),
         "links": [(lang, LANGUAGES[lang], url_for("documents.download", case_id=case.id, doc=ref.key, lang=lang))
                   for lang in case_documents.LANGUAGES]}
        for ref in case_documents.available(db.session, case)
    ]

