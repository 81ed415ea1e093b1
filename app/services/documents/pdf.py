"""HTML to PDF with WeasyPrint: the one renderer every printable document goes through.

Chinese text needs a CJK font on the machine: the Makefile's ``pdf`` target installs Debian's
fonts-wqy-microhei (and the Pango libraries WeasyPrint draws text with); documents name it in
their CSS (:data:`FONT_FAMILY`), nothing is downloaded at run time. Resources are fetched only
as ``data:`` URIs (images are embedded by the caller) or files under ``base_url``: a document
never makes the server fetch a URL, whatever text it holds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

#: the CSS font stack of every document: the CJK font the Makefile installs comes first
FONT_FAMILY = '"WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "Noto Sans CJK SC", sans-serif'


def _fetcher(base_url: str | None) -> Any:
    """A URL fetcher that serves ``data:`` URIs and files under ``base_url``, nothing else."""
    from weasyprint.urls import URLFetcher

    root = Path(base_url).resolve() if base_url and "://" not in base_url else None

    class LocalOnly(URLFetcher):  # type: ignore[misc]  # WeasyPrint ships no types
        def fetch(self, url: str, headers: Any = None) -> Any:
            parts = urlsplit(url)
            if parts.scheme == "data":
                return super().fetch(url, headers)
            if parts.scheme == "file" and root is not None:
                path = Path(unquote(parts.path)).resolve()
                if path.is_relative_to(root):
                    return super().fetch(url, headers)
            raise ValueError(f"resource not allowed in a document: {url[:80]}")

    return LocalOnly(allowed_protocols={"data", "file"}, allow_redirects=False)


def render_pdf(html: str, base_url: str | Path | None = None) -> bytes:
    """The PDF of an HTML document (its styles inline or under ``base_url``, a local folder)."""
    from weasyprint import HTML  # late: loading Pango costs a moment nobody else should pay

    folder = str(base_url) if base_url is not None else None
    document = HTML(string=html, base_url=folder, url_fetcher=_fetcher(folder))
    return bytes(document.write_pdf())
