"""Reliability: bounded work, crash safety, backup and restore, migrations, property-based forms."""
