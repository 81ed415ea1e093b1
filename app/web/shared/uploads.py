"""Uploads on every form page, staff and public alike: the rules stated next to each file field,
files kept across a try that comes back with errors, and a request too large to receive
answered with the form (what was typed kept) rather than a bare 413 page."""

from __future__ import annotations

import io
import secrets
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app, request, session
from flask.wrappers import Request
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.datastructures import MultiDict

from app.extensions import db, file_store
from app.formkit.build import FILE_TYPES, upload_error, uploads_of
from app.formkit.uploads import DEFAULT_MAX_FILE_BYTES, accept_attribute, max_bytes, type_names
from app.services import received_files

#: the form pages whose too-large requests come back as the form (their text fields are read,
#: the files skipped); anywhere else a too-large request stays a 413
FORM_PAGES = frozenset({"cases.new_case", "tasks.complete", "tasks.save_draft", "public.feedback"})
#: beyond this many times the request limit even a form page's request is refused unread
OVERSIZE_READ_FACTOR = 4
TOO_LARGE_KEY = "app.upload_too_large"


class _Discard(io.BytesIO):
    """Where a too-large request's files go: nowhere (an empty file to the parser)."""

    def write(self, data: Any) -> int:
        return len(data)


class FormPageRequest(Request):
    """A request that reads a too-large form page's text fields and skips its files, so the form
    can come back with what was typed and a message (see :func:`too_large`)."""

    def _load_form_data(self) -> None:
        if "form" not in self.__dict__ and self._oversized_form_page():
            self.environ[TOO_LARGE_KEY] = True
            # read it (up to the bound), keeping the text fields and discarding the files
            self.max_content_length = int(current_app.config["MAX_CONTENT_LENGTH"]) * OVERSIZE_READ_FACTOR
        super()._load_form_data()
        if self.environ.get(TOO_LARGE_KEY):
            self.__dict__["files"] = MultiDict()

    def _get_file_stream(self, total_content_length: int | None, content_type: str | None,
                         filename: str | None = None, content_length: int | None = None) -> Any:
        if self.environ.get(TOO_LARGE_KEY):
            return _Discard()
        return super()._get_file_stream(total_content_length, content_type, filename, content_length)

    def _oversized_form_page(self) -> bool:
        limit = current_app.config.get("MAX_CONTENT_LENGTH") if current_app else None
        length = self.content_length
        return bool(limit and length and self.method == "POST" and self.endpoint in FORM_PAGES
                    and limit < length <= limit * OVERSIZE_READ_FACTOR)


def too_large() -> str | None:
    """The message for a form whose files were too large to receive (None when they were not)."""
    if not request.environ.get(TOO_LARGE_KEY):
        return None
    mb = int(current_app.config["MAX_CONTENT_LENGTH"]) // (1024 * 1024)
    return _("The files sent together were larger than %(mb)s MB and were not received. Choose smaller or "
             "fewer files and send the form again; what you typed is kept.", mb=mb)


def file_limit() -> int:
    """The size limit per file where a field states none (the customer form may have its own)."""
    config = current_app.config
    default = int(config.get("UPLOAD_MAX_FILE_BYTES") or DEFAULT_MAX_FILE_BYTES)
    if (request.blueprint or "").split(".")[0] == "public":
        return int(config.get("PUBLIC_MAX_FILE_BYTES") or default)
    return default


def upload_rules(spec: dict[str, Any]) -> str:
    """The rules of a file field in words, shown next to it."""
    limit = max_bytes(spec, file_limit()) / (1024 * 1024)
    text = _("Accepted: %(types)s · at most %(mb)s MB per file", types=type_names(spec), mb=f"{limit:g}")
    if spec.get("type") == "files" and isinstance(spec.get("max_files"), int):
        text += " · " + _("up to %(n)s files", n=spec["max_files"])
    return text


# ---------------------------------------------------------------------------- received files


def owner() -> str:
    """Whose received files these are: the signed-in user, else this browser's session."""
    if getattr(current_user, "is_authenticated", False):
        return f"user:{current_user.id}"
    if "upload_owner" not in session:
        session["upload_owner"] = secrets.token_urlsafe(18)
    return f"session:{session['upload_owner']}"


@dataclass
class Received:
    """The files a form received on earlier tries (by field), under ``token``."""

    token: str
    owner: str
    rows: dict[str, list[Any]] = field(default_factory=dict)

    @property
    def files(self) -> dict[str, list[dict[str, Any]]]:
        return received_files.files_of(self.rows)


def received_uploads() -> Received:
    """The form's received files: those under the posted token minus those the user removed
    (a new token on a form shown for the first time)."""
    if request.method != "POST":
        return Received(received_files.new_token(), "")  # a form shown afresh: nothing received yet
    who = owner()
    token = received_files.valid_token(request.form.get("upload_token"))
    if token is None:
        return Received(received_files.new_token(), who)
    removed = [int(v) for v in request.form.getlist("upload_remove") if v.isdigit()]
    received_files.remove(db.session, token, who, removed)
    return Received(token, who, received_files.received(db.session, token, who))


def keep_received(got: Received, form: Any, definition: dict[str, Any], locale: str) -> Received:
    """After a try with errors (its transaction rolled back): store the acceptable files it
    brought and remember them under the form's token, so the form shows them as received and
    uses them when it is sent again. Commits."""
    store = file_store()
    kept = 0
    for spec in definition.get("fields", []):
        if spec["type"] not in FILE_TYPES:
            continue
        room = (spec.get("max_files") if spec["type"] == "files" else 1) or 50
        have = len(got.rows.get(spec["name"], []))
        for upload in uploads_of(form[spec["name"]]):
            if have >= room or upload_error(upload, spec, locale, file_limit()):
                continue
            upload.stream.seek(0)
            received_files.keep(db.session, got.token, got.owner, spec["name"], store(upload))
            have += 1
            kept += 1
    if kept or got.rows:
        db.session.commit()
    return Received(got.token, got.owner, received_files.received(db.session, got.token, got.owner))


def received_used(got: Received) -> None:
    """The form went through: its received files are part of it now (same transaction)."""
    received_files.used(db.session, got.token, got.owner)


def register_uploads(app: Flask) -> None:
    app.request_class = FormPageRequest
    app.jinja_env.globals.update(upload_rules=upload_rules, upload_accept=accept_attribute,
                                 upload_max=lambda spec: max_bytes(spec, file_limit()))
