"""The customer-facing pages (no login): feedback form, status link with replies, survey."""
