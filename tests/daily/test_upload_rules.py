"""The one rule set of every upload (app/formkit/uploads.py): type by content agreeing with the
extension, the field's own types, the size per file."""

from __future__ import annotations

import io
from dataclasses import dataclass

from app.formkit.build import upload_error
from app.formkit.uploads import accept_attribute, file_problem, max_bytes, type_names

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
PDF = b"%PDF-1.4\n" + b"\x00" * 100


@dataclass
class Upload:
    content: bytes
    filename: str

    def __post_init__(self) -> None:
        self.stream = io.BytesIO(self.content)


FILES = {"name": "f", "type": "files"}
IMAGES = {"name": "f", "type": "files", "accept": ["jpg", "jpeg", "png"], "max_mb": 0.0001}


def test_type_by_content_and_extension():
    assert file_problem(Upload(PNG, "photo.png"), FILES) is None
    assert file_problem(Upload(b"MZ\x90\x00" + b"\x00" * 50, "tool.exe"), FILES).kind == "type"
    assert file_problem(Upload(b"just text", "photo.png"), FILES).kind == "type"
    assert file_problem(Upload(PNG, "photo.pdf"), FILES).kind == "type"  # content and name disagree


def test_a_field_narrows_the_types_and_the_size():
    assert file_problem(Upload(PDF, "report.pdf"), FILES) is None
    assert file_problem(Upload(PDF, "report.pdf"), {**IMAGES, "max_mb": 1}).kind == "type"
    assert file_problem(Upload(PNG, "photo.png"), IMAGES).kind == "size"  # 108 bytes > 0.0001 MB
    assert file_problem(Upload(PNG, "photo.png"), FILES, default_max=50).kind == "size"
    assert max_bytes({"max_mb": 2}) == 2 * 1024 * 1024 and max_bytes({}, 7) == 7
    assert accept_attribute(IMAGES) == ".jpg,.jpeg,.png" and type_names(IMAGES) == "JPG, PNG"


def test_the_messages_say_what_is_wrong_in_the_users_language():
    assert "不是可接受的文件" in upload_error(Upload(b"x", "a.exe"), FILES, "zh")
    assert "is not accepted here (accepted: JPG, PNG)" in upload_error(Upload(PDF, "r.pdf"), {**IMAGES, "max_mb": 1},
                                                                       "en")
    assert "larger than" in upload_error(Upload(PNG, "p.png"), IMAGES, "en")
