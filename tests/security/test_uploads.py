"""Stored files are typed by the server from their content, whatever the browser said."""

from __future__ import annotations

import io

from werkzeug.datastructures import FileStorage

from app.services import attachments

PNG = b"\x89PNG\r\n\x1a\n" + bytes(16)


def test_the_stored_type_is_the_one_found_in_the_content(tmp_path):
    real = attachments.store(tmp_path, FileStorage(io.BytesIO(PNG), filename="a.png", content_type="text/html"))
    assert real["content_type"] == "image/png"
    page = attachments.store(tmp_path, FileStorage(io.BytesIO(b"<html>"), filename="b.png", content_type="image/png"))
    assert page["content_type"] == "application/octet-stream"
    svg = attachments.store(tmp_path, FileStorage(io.BytesIO(b"<svg/>"), filename="c.svg",
                                                  content_type="image/svg+xml"))
    assert svg["content_type"] == "application/octet-stream"
    assert attachments.content_type(tmp_path / real["id"], "renamed.pdf") == "application/octet-stream"
    assert attachments.content_type(tmp_path / "missing", "x.png") == "application/octet-stream"
