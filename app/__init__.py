"""Customer feedback and complaint handling on BPMN.

The package root stays free of Flask so that the engine and data layers can be imported
(and tested) on their own; the web application is assembled by :func:`create_app`.
"""

from __future__ import annotations

from typing import Any


def create_app(config: Any = None) -> Any:
    """Build the Flask application (see :mod:`app.factory`)."""
    from app.factory import build_app

    return build_app(config)
