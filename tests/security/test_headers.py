"""Security headers on every HTML response; attachments keep their own sandbox policy."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import login

TEMPLATES = Path(__file__).resolve().parents[2] / "app" / "templates"


def test_html_pages_send_the_security_headers(app):
    client = app.test_client()
    for path in ("/auth/login", "/feedback"):
        response = client.get(path)
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-eval" not in csp
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
    login(client, "marketing")
    inbox = client.get("/inbox/")
    assert inbox.headers["X-Frame-Options"] == "DENY" and "Content-Security-Policy" in inbox.headers
    assert client.get("/api/v1/health").headers["X-Content-Type-Options"] == "nosniff"


def test_templates_carry_no_inline_script_or_handler():
    """Scripts come from files; pages hand data over in JSON blocks, which the policy allows."""
    found = []
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text(encoding="utf-8")
        for tag in re.findall(r"<script\b[^>]*>", text):
            if "src=" not in tag and 'type="application/json"' not in tag:
                found.append(f"{template.name}: {tag}")
        found.extend(f"{template.name}: {m}" for m in re.findall(r"\son[a-z]+\s*=", text))
        found.extend(f"{template.name}: javascript: URL" for _ in re.findall(r"javascript:", text))
    assert found == []
