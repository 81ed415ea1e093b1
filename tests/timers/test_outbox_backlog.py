"""A backlog of e-mails goes out at the mail server's pace: the scheduler's outbox job sends batch
after batch within its interval, and stops at the first failed attempt or when nothing is due."""

from __future__ import annotations

from sqlalchemy import func, select

from app.data.models import EmailOutbox
from app.scheduler.runner import outbox_job
from app.services import notifications
from tests.timers.conftest import start_simple


def _by_status(database) -> dict[str, int]:
    with database.session() as session:
        return dict(session.execute(select(EmailOutbox.status, func.count()).group_by(EmailOutbox.status)).all())


def test_the_job_sends_a_backlog_of_several_batches_in_one_run(app, smtp_server):
    database = app.extensions["database"]
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_server.port, OUTBOX_INTERVAL_SECONDS=60)
    while _by_status(database).get("pending", 0) <= 120:  # more than two batches of 50
        start_simple(app)
    queued = _by_status(database)["pending"]
    assert outbox_job(app) == (queued, 0)
    assert _by_status(database) == {"sent": queued}
    assert len(smtp_server.inbox.messages) == queued
    assert outbox_job(app) == (0, 0)  # nothing sent twice


def test_one_batch_when_the_time_is_used_up(app, smtp_server):
    database = app.extensions["database"]
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_server.port)
    for _ in range(3):
        start_simple(app)
    queued = _by_status(database)["pending"]
    assert queued > 2
    assert notifications.drain_backlog(database, app.config, budget_s=0, batch=2) == (2, 0)
    assert notifications.drain_backlog(database, app.config, budget_s=60, batch=2) == (queued - 2, 0)


def test_the_first_failed_attempt_ends_the_run(app, smtp_port):
    database = app.extensions["database"]
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_port, MAIL_TIMEOUT=2)  # nothing listens
    for _ in range(3):
        start_simple(app)
    queued = _by_status(database)["pending"]
    assert notifications.drain_backlog(database, app.config, budget_s=60, batch=2) == (0, 2)
    with database.session() as session:
        attempts = sorted(session.scalars(select(EmailOutbox.attempts)))
    assert attempts == [0] * (queued - 2) + [1, 1]  # the rest waits for the next run


def test_a_cap_per_run_for_a_relay_with_a_quota(app, smtp_server):
    database = app.extensions["database"]
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_server.port, OUTBOX_MAX_PER_RUN=5)
    while _by_status(database).get("pending", 0) <= 10:
        start_simple(app)
    queued = _by_status(database)["pending"]
    assert notifications.drain_backlog(database, app.config, budget_s=60, batch=2) == (5, 0)  # 2 + 2 + 1
    assert len(smtp_server.inbox.messages) == 5
    assert outbox_job(app) == (5, 0)
    assert _by_status(database) == {"sent": 10, "pending": queued - 10}
