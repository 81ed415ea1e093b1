"""End-to-end checks that drive Debian's Chromium through Playwright against the real app."""
