"""Links for many rows of a list page: ``url_for`` once per endpoint, not once per row."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flask import url_for

#: ids a URL holds as they are (anything else goes through ``url_for``, which quotes it)
_URL_SAFE = re.compile(r"[A-Za-z0-9_.~-]+")


def row_url(endpoint: str, argument: str, marker: str | int) -> Callable[[Any], str]:
    """``url_for(endpoint, argument=value)`` for many rows: the URL is built once with ``marker``
    and each value put in its place (``url_for`` per link was 180 calls a page); a value that
    would need quoting goes through ``url_for``."""
    sample: dict[str, Any] = {argument: marker}
    head, tail = url_for(endpoint, **sample).split(str(marker), 1)

    def build(value: Any) -> str:
        text = str(value)
        return head + text + tail if _URL_SAFE.fullmatch(text) else url_for(endpoint, **{argument: value})

    return build
