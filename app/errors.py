"""The base of every error the application raises on purpose: each carries a message fit to
show a user (an untranslated catalogue key, marked with ``N_``) and a stable code.

The engine's errors (:mod:`app.engine.errors`) and the services' domain errors
(:mod:`app.services.errors`) both derive from :class:`AppError`, so the web and API error
mappings handle them in one place without the services borrowing the engine's classes.
"""

from __future__ import annotations


class AppError(Exception):
    """An expected failure with a user-facing message and a machine-readable ``code``."""

    code = "error"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
