"""Early warning on repeated problems: the alert list for Quality."""
