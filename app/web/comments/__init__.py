"""Comments on a case (web)."""
