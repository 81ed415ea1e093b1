"""A case's printable documents over the API: the list with download URLs, and each PDF."""

from __future__ import annotations

from flask import Response, current_app, jsonify, request, url_for
from flask_babel import gettext as _

from app.api import bp
from app.api.auth import api_locale, api_user, endpoint, int_id
from app.data.models import Case
from app.engine.errors import NotFound
from app.extensions import db
from app.i18n import N_
from app.services.documents import case_documents
from app.services.documents.case_documents import DocumentRef


def _case_id(case_id: int) -> int:
    number = int_id(case_id)
    if number is None:
        raise NotFound(N_("Case not found."))
    return number


def _item(case: Case, ref: DocumentRef, locale: str) -> dict:
    title = _(ref.title)
    if ref.department is not None:
        title = f"{title} · {ref.department.name(locale)}"
    urls = {lang: url_for("api.case_document", case_id=case.id, doc=ref.key, lang=lang)
            for lang in case_documents.LANGUAGES}
    return {
        "key": ref.key, "kind": ref.kind, "title": title,
        "department": ref.department.code if ref.department is not None else None,
        "media_type": "application/pdf", "url": urls[locale], "urls": urls,
    }


@bp.get("/cases/<int:case_id>/documents")
@endpoint()
def case_documents_list(case_id: int):
    """The case's documents (improvement form, request, 8D reports, dossier) with their download URLs."""
    case, refs = case_documents.listed(db.session, api_user(), _case_id(case_id))
    locale = api_locale()
    return jsonify(case_id=case.id, case_number=case.number, documents=[_item(case, ref, locale) for ref in refs])


@bp.get("/cases/<int:case_id>/documents/<doc>")
@endpoint()
def case_document(case_id: int, doc: str):
    """One document as PDF, in ``?lang=zh|en`` (default: the caller's language); the export is audited."""
    lang = request.args.get("lang") or api_locale()  # checked after the case's visibility
    document = case_documents.export(db.session, api_user(), _case_id(case_id), doc, lang,
                                     current_app.config["UPLOAD_DIR"])
    db.session.commit()
    return Response(document.content, mimetype=document.media_type,
                    headers={"Content-Disposition": f'attachment; filename="{document.filename}"'})
