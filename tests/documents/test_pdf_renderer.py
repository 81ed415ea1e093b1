"""The generic renderer: Chinese text in the installed CJK font, and no fetching of URLs."""

from __future__ import annotations

import io
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

from pypdf import PdfReader

from app.services.documents.pdf import FONT_FAMILY, render_pdf


def _fonts(reader: PdfReader) -> set[str]:
    names = set()
    for page in reader.pages:
        for font in (page["/Resources"].get("/Font") or {}).values():
            names.add(str(font.get_object().get("/BaseFont")))
    return names


def test_chinese_renders_in_the_cjk_font_and_no_url_is_fetched(tmp_path):
    asked = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            asked.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        html = (f"<html><head><style>body {{ font-family: {FONT_FAMILY}; }}</style>"
                "</head>"
                f"<body><h1>问题反馈分析改善表</h1>"
                f'<img src="http://127.0.0.1:{server.server_port}/probe.png"></body></html>')
        pdf = render_pdf(html, tmp_path)
    finally:
        server.shutdown()
    reader = PdfReader(io.BytesIO(pdf))
    assert "问题反馈分析改善表" in reader.pages[0].extract_text()
    assert any("WenQuanYi" in name for name in _fonts(reader))
    assert asked == []
