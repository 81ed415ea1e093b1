"""Pieces every web blueprint uses: display helpers and template globals, task-form building."""
