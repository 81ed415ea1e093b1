"""The documents of a case as PDF, laid out like the paper forms of the procedure: the
问题反馈分析改善表 (problem feedback analysis and improvement form), the 补/换/退货申请单
(replenish / exchange / return request) with its signatures, each responsible department's 8D
report, and the case dossier. Whoever may see the case may export them, in Chinese or English;
every export is an audit event (who exported which document, and the PDF's SHA-256).

Templates: ``templates/documents/<kind>.html``, rendered in the asked language and turned into
PDF by :func:`app.services.documents.pdf.render_pdf`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.clock import clock
from app.data.models import Case, User
from app.data.queries.people import DepartmentRow
from app.engine.errors import NotFound
from app.i18n import N_
from app.services import audit_trail, policy
from app.services.cases import get_case
from app.services.documents import content
from app.services.documents.pdf import FONT_FAMILY, render_pdf
from app.services.errors import InvalidInput

LANGUAGES = ("zh", "en")
EXPORTED = "document_exported"
#: the kinds of document, with their titles (msgids; the Chinese title is the paper form's)
TITLES = {
    "improvement": N_("Problem feedback analysis and improvement form"),
    "request": N_("Replenish / exchange / return request"),
    "eight_d": N_("8D report"),
    "dossier": N_("Case dossier"),
}
EIGHT_D_PREFIX = "8d-"
_KEY_RE = re.compile(r"^[a-z0-9_-]{1,60}$")


@dataclass(frozen=True)
class DocumentRef:
    """One document of a case: its key in URLs (``improvement``, ``request``, ``dossier``,
    ``8d-<department code>``), its kind and, for an 8D report, the department."""

    key: str
    kind: str
    department: DepartmentRow | None = None

    @property
    def title(self) -> str:
        """The msgid of the kind's title (translate it; an 8D report adds the department)."""
        return TITLES[self.kind]


@dataclass(frozen=True)
class RenderedDocument:
    filename: str
    content: bytes
    media_type: str = "application/pdf"


def available(session: Session, case: Case) -> list[DocumentRef]:
    """The documents the case has so far: the improvement form and the dossier always, the
    request once Marketing filled one, an 8D report per department that wrote one."""
    forms = content.case_forms(session, case)
    found = [DocumentRef("improvement", "improvement")]
    if content.has_request(forms):
        found.append(DocumentRef("request", "request"))
    found.extend(DocumentRef(EIGHT_D_PREFIX + m.department.code.lower(), "eight_d", m.department)
                 for m in forms.departments)
    found.append(DocumentRef("dossier", "dossier"))
    return found


def visible_case(session: Session, user: User, case_id: int) -> Case:
    """The case, if ``user`` may export its documents (NotFound / Forbidden otherwise)."""
    case = get_case(session, case_id)
    policy.require(policy.may_export_case_documents(session, user, case), N_("You may not see this case."))
    return case


def listed(session: Session, user: User, case_id: int) -> tuple[Case, list[DocumentRef]]:
    """The case's documents, for whoever may see the case."""
    case = visible_case(session, user, case_id)
    return case, available(session, case)


def _find(session: Session, case: Case, key: str) -> DocumentRef:
    if _KEY_RE.match(key or ""):
        for ref in available(session, case):
            if ref.key == key:
                return ref
    raise NotFound(N_("The case has no such document."))


def _context(session: Session, case: Case, ref: DocumentRef, upload_dir: str | Path) -> dict[str, Any]:
    if ref.kind == "dossier":
        return {"dossier": content.dossier(session, case, upload_dir)}
    forms = content.case_forms(session, case)
    if ref.kind == "eight_d":
        measures = next(m for m in forms.departments if m.department.id == getattr(ref.department, "id", None))
        return {"forms": forms, "measures": measures}
    return {"forms": forms}


def _html(ref: DocumentRef, lang: str, **context: Any) -> str:
    # late: rendering needs the app's templates and the display helpers it registers
    from flask import render_template
    from flask_babel import force_locale

    with force_locale(lang):
        return render_template(f"documents/{ref.kind}.html", doc=ref, lang=lang, font_family=FONT_FAMILY,
                               **context)


def export(session: Session, user: User, case_id: int, key: str, lang: str,
           upload_dir: str | Path) -> RenderedDocument:
    """The PDF of document ``key`` of the case in ``lang``, for whoever may see the case;
    audited as ``document_exported`` in the caller's transaction."""
    case = visible_case(session, user, case_id)
    if lang not in LANGUAGES:
        raise InvalidInput(N_("Unknown language; use zh or en."))
    ref = _find(session, case, key)
    html = _html(ref, lang, case=case, generated_at=clock.now(), generated_by=user,
                 **_context(session, case, ref, upload_dir))
    pdf = render_pdf(html, Path(__file__).parent)
    audit_trail.record_export(
        session, user, EXPORTED, f"{ref.key} ({lang})", case_id=case.id,
        after={"document": ref.key, "language": lang, "bytes": len(pdf), "sha256": hashlib.sha256(pdf).hexdigest()},
    )
    return RenderedDocument(f"{case.number}-{ref.key}-{lang}.pdf", pdf)
