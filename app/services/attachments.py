"""Uploaded files: stored once per content under ``UPLOAD_DIR/<sha256>``."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from app.formkit.uploads import detect_type

CHUNK = 64 * 1024
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class Upload(Protocol):
    filename: str | None
    content_type: str | None
    stream: BinaryIO


def clean_name(filename: str | None) -> str:
    """The file's base name without directories or control characters (kept for display only)."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return name[:200] or "file"


def store(upload_dir: str | Path, upload: Upload, max_bytes: int | None = None) -> dict[str, Any]:
    """Save ``upload`` by its SHA-256 and describe it for task data.

    Returns ``{"id", "sha256", "name", "size", "content_type"}``; the same content is stored once.
    Raises ValueError when the file is larger than ``max_bytes``.
    """
    folder = Path(upload_dir)
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            while True:
                chunk = upload.stream.read(CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise ValueError("file too large")
                digest.update(chunk)
                out.write(chunk)
        sha = digest.hexdigest()
        target = folder / sha
        if target.exists():
            os.unlink(tmp_name)
        else:
            os.replace(tmp_name, target)
    except BaseException:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise
    return {
        "id": sha,
        "sha256": sha,
        "name": clean_name(upload.filename),
        "size": size,
        "content_type": content_type(target, upload.filename),
    }


def content_type(path: str | Path, filename: str | None) -> str:
    """The type of a stored file as the server judges it from its content (never the browser's
    word); ``application/octet-stream`` for anything not an accepted file."""
    try:
        with open(path, "rb") as stream:
            return detect_type(stream, filename) or "application/octet-stream"
    except OSError:
        return "application/octet-stream"


def path_for(upload_dir: str | Path, sha256: str) -> Path | None:
    """Where the file with this hash is stored, if it is."""
    if not SHA256_RE.match(sha256 or ""):
        return None
    path = Path(upload_dir) / sha256
    return path if path.is_file() else None
