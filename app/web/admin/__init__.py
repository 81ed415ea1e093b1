"""Administration: users, departments and process incidents (role admin only)."""
