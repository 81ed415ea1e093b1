"""What a signed-in page costs in SQL statements (a count, not a time: deterministic). Every page
pays the layout — loading the user with their memberships and roles, the navigation's badges,
the bell — before its own queries; docs/benchmarks.md ("Inbox at 100k cases", third pass) says
what each statement is. A change that makes these pages issue more statements fails here:
measure it (bench/page_profile.py) and raise the limit only knowingly.
"""

from __future__ import annotations

import pytest
from sqlalchemy import event

from app.services import calendar_admin
from tests.conftest import BACKEND
from tests.web.helpers import user_client

#: (user, page, statements on SQLite, on PostgreSQL): marketing's inbox (default tab and the
#: departments' queue, empty), Quality's case list and a search. The layout is 6 of them (the user
#: with memberships and roles, whom they stand in for, the inbox entry's two badges, which
#: departments have approvals, the bell, the departments); before this budget: 9 (the user 3, the
#: badges 2, the bell 2), so 12, 12, 15 and 14 on SQLite
PAGES = (
    ("marketing", "/inbox/", 9, 9),
    ("marketing", "/inbox/?tab=department", 9, 9),
    ("quality", "/cases/", 11, 11),
    ("quality", "/cases/?q=%E5%8D%8E%E4%B8%9C", 10, 11),
)


@pytest.mark.parametrize(("username", "path", "sqlite", "postgres"), PAGES)
def test_signed_in_pages_stay_within_their_statement_budget(app, username, path, sqlite, postgres,
                                                            monkeypatch) -> None:
    # the working calendar's version is checked at most once a second per process: on a busy
    # machine the counted request could come a second after the first and count that check too
    monkeypatch.setattr(calendar_admin, "CHECK_EVERY_SECONDS", 3600)
    limit = postgres if BACKEND == "postgres" else sqlite
    client = user_client(app, username)
    assert client.get(path).status_code == 200  # first request: per-process caches filled
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_rest) -> None:
        statements.append(statement)

    engine = app.extensions["database"].engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        assert client.get(path).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) <= limit, "\n".join(" ".join(s.split())[:160] for s in statements)
