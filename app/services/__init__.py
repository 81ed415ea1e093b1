"""Application services: the use cases the web UI and the API call (no Flask here)."""
