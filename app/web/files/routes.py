"""``/files/<id>``: a stored attachment, for signed-in users who may see a case holding it.

The id is the file's SHA-256 as recorded in case or task data; the file is looked up by that
id only (never by a path from the request), and served with the content type the server finds
in the file itself (what a browser claimed at upload, even in data stored before, is ignored).
"""

from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, abort, current_app, request, send_file
from flask_login import current_user, login_required

from app.extensions import db
from app.services import attachments, policy
from app.services.public import IMAGE_TYPES, attachment_references

bp = Blueprint("files", __name__)

#: stored types shown inline (thumbnails, previews); everything else is a download
INLINE_TYPES = IMAGE_TYPES | {"application/pdf"}


def _disposition(kind: str, name: str) -> str:
    ascii_name = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\;' else "_" for ch in name) or "file"
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


@bp.route("/files/<file_id>")
@login_required
def download(file_id: str):
    references = attachment_references(db.session, file_id)
    if not references:
        abort(404)
    visible = [(case, item) for case, item in references if policy.may_view_case(db.session, current_user, case)]
    if not visible:
        abort(403)
    path = attachments.path_for(current_app.config["UPLOAD_DIR"], file_id)
    if path is None:
        abort(404)
    item = visible[0][1]
    name = attachments.clean_name(str(item.get("name") or file_id))
    content_type = attachments.content_type(path, name)
    inline = content_type in INLINE_TYPES and not request.args.get("download")
    response = send_file(path, mimetype=content_type, conditional=True, max_age=0, etag=file_id)
    response.headers["Content-Disposition"] = _disposition("inline" if inline else "attachment", name)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
    response.headers["Cache-Control"] = "private, no-cache"
    return response
