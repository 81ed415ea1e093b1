"""The inbox: my tasks and my departments' queue, read from the task projection."""
