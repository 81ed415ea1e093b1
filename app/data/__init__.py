"""Persistence: the SQLAlchemy engine and sessions, the ORM models, and the queries the UI reads."""
