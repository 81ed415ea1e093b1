"""Translation markers usable outside Flask.

Engine and service code marks user-facing messages with :func:`N_`; the web and API layers
translate them with ``gettext`` at display time (``pybabel extract`` knows ``N_``).
"""

from __future__ import annotations


def N_(message: str) -> str:  # noqa: N802 - the conventional marker name
    """Mark ``message`` for extraction; return it unchanged."""
    return message
