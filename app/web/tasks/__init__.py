"""The task page: a human task's form, rendered from its declarative definition."""
