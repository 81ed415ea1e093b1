"""What an uploaded file is, judged by the server from its content (and its name's extension,
which must agree): the one check of every upload, staff and public alike. The browser's
Content-Type is never believed; what is stored and served is the type found here."""

from __future__ import annotations

import io
import zipfile
from typing import BinaryIO

IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif"})
#: accepted content type → file name extensions it may carry
ACCEPTED_TYPES: dict[str, tuple[str, ...]] = {
    "image/jpeg": ("jpg", "jpeg"),
    "image/png": ("png",),
    "image/webp": ("webp",),
    "image/gif": ("gif",),
    "application/pdf": ("pdf",),
    "application/msword": ("doc",),
    "application/vnd.ms-excel": ("xls",),
    "application/vnd.ms-powerpoint": ("ppt",),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ("docx",),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ("xlsx",),
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": ("pptx",),
}
ACCEPT_ATTRIBUTE = ".jpg,.jpeg,.png,.webp,.gif,.pdf,.doc,.docx,.xls,.xlsx,.ppt,.pptx"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
OOXML_PARTS = {"docx": "word/", "xlsx": "xl/", "pptx": "ppt/"}


def _extension(filename: str | None) -> str:
    name = (filename or "").rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def stream_size(stream: BinaryIO) -> int:
    stream.seek(0, io.SEEK_END)
    size = stream.tell()
    stream.seek(0)
    return size


def detect_type(stream: BinaryIO, filename: str | None) -> str | None:
    """The accepted content type of the file, judged by its content *and* its extension
    (both must agree); None when it is not an accepted file. The stream is rewound."""
    ext = _extension(filename)
    stream.seek(0)
    head = stream.read(16)
    stream.seek(0)
    found: str | None = None
    if head.startswith(b"\xff\xd8\xff"):
        found = "image/jpeg"
    elif head.startswith(b"\x89PNG\r\n\x1a\n"):
        found = "image/png"
    elif head[:6] in (b"GIF87a", b"GIF89a"):
        found = "image/gif"
    elif head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        found = "image/webp"
    elif head.startswith(b"%PDF-"):
        found = "application/pdf"
    elif head.startswith(OLE_MAGIC):
        found = {"doc": "application/msword", "xls": "application/vnd.ms-excel",
                 "ppt": "application/vnd.ms-powerpoint"}.get(ext)
    elif head.startswith(b"PK\x03\x04") and ext in OOXML_PARTS:
        try:
            with zipfile.ZipFile(stream) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError, ValueError):
            names = []
        finally:
            stream.seek(0)
        if "[Content_Types].xml" in names and any(n.startswith(OOXML_PARTS[ext]) for n in names):
            found = next(t for t, exts in ACCEPTED_TYPES.items() if ext in exts)
    if found is None or ext not in ACCEPTED_TYPES[found]:
        return None
    return found


__all__ = ["ACCEPTED_TYPES", "ACCEPT_ATTRIBUTE", "IMAGE_TYPES", "detect_type", "stream_size"]
