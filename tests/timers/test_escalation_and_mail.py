"""Escalation ladder by moving the clock, lateness, notifications and e-mails over a local SMTP server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from app.clock import clock
from app.data.models import (
    EmailOutbox,
    HumanTask,
    Notification,
    ProcessInstance,
    TaskEscalation,
    TaskLateness,
    TaskState,
    User,
)
from app.data.models.notifications import NotificationKind
from app.engine.calendar import WorkingCalendar
from app.engine.context import Actor
from app.services import notifications
from app.services.escalation import LadderSettings, run_ladder
from tests.conftest import login
from tests.timers.conftest import SmtpServer, start_simple

MONDAY_0900 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 2 March 2026, 09:00 Shanghai


def notes(session, kind: str | None = None) -> list[tuple[str, str]]:
    stmt = select(User.username, Notification.kind).join(User, User.id == Notification.user_id)
    if kind:
        stmt = stmt.where(Notification.kind == kind)
    return sorted(session.execute(stmt).all())


def user_id(session, username: str) -> int:
    return session.scalar(select(User.id).where(User.username == username))


def ladder(app, at: datetime, settings: LadderSettings):
    clock.set(at)
    with app.app_context(), app.extensions["database"].transaction() as session:
        return run_ladder(session, at, settings)


def test_escalation_ladder_step_by_step_each_once(app):
    database = app.extensions["database"]
    clock.set(MONDAY_0900)
    _, task_id = start_simple(app)  # due Monday 13:00 Shanghai
    settings = LadderSettings(reminder_hours=2, manager_delay_days=1)
    with database.session() as session:
        session.execute(Notification.__table__.delete())  # forget the "new task" notes
        session.commit()

    assert ladder(app, MONDAY_0900, settings) == []  # 3 working hours before due: too early
    assert ladder(app, MONDAY_0900 + timedelta(hours=1, minutes=30), settings) == [(task_id, 1)]  # 10:30
    assert ladder(app, MONDAY_0900 + timedelta(hours=2), settings) == []  # recorded once
    with database.session() as session:
        assert notes(session) == [("marketing", "due_soon"), ("marketing_head", "due_soon")]

    due = MONDAY_0900 + timedelta(hours=4)
    assert ladder(app, due - timedelta(seconds=1), settings) == []
    assert ladder(app, due, settings) == [(task_id, 2)]
    assert ladder(app, due + timedelta(minutes=5), settings) == []
    with database.session() as session:
        assert notes(session, "overdue") == [("marketing", "overdue"), ("marketing_head", "overdue")]
        assert notes(session, "escalated") == [("marketing_head", "escalated")]

    # One working day (8 working hours) after Monday 13:00: 13:00–17:30 + 08:30–12:00 = Tuesday 12:00.
    manager_at = due + timedelta(hours=23)
    assert ladder(app, manager_at - timedelta(minutes=1), settings) == []
    assert ladder(app, manager_at, settings) == [(task_id, 3)]
    assert ladder(app, manager_at + timedelta(days=3), settings) == []
    with database.session() as session:
        assert notes(session, "escalated") == [("manager", "escalated"), ("marketing_head", "escalated")]
        row = session.get(TaskEscalation, task_id)
        assert (row.level, row.reminded_at, row.head_at, row.manager_at) == (
            3, MONDAY_0900 + timedelta(hours=1, minutes=30), due, manager_at)
        assert session.scalar(select(func.count(Notification.id))) == 6


def test_late_start_skips_the_reminder_and_closed_tasks_leave_the_ladder(app):
    clock.set(MONDAY_0900)
    _, task_id = start_simple(app)
    settings = LadderSettings(reminder_hours=2, manager_delay_days=1)
    # The scheduler was down until Wednesday: head and manager steps, no stale reminder.
    assert ladder(app, MONDAY_0900 + timedelta(days=2), settings) == [(task_id, 2), (task_id, 3)]
    with app.extensions["database"].session() as session:
        assert notes(session, "due_soon") == []


def test_a_task_opened_inside_the_reminder_window_gets_no_due_soon_at_once(app):
    clock.set(MONDAY_0900)
    _, task_id = start_simple(app)  # due in 4 working hours
    settings = LadderSettings(reminder_hours=6, manager_delay_days=1)
    assert ladder(app, MONDAY_0900 + timedelta(minutes=1), settings) == [(task_id, 1)]  # the step is taken
    with app.extensions["database"].session() as session:
        assert notes(session, "due_soon") == []
        assert notes(session, "new_task")  # the new-task notice told the due time


def test_lateness_recorded_in_working_days_by_default(app):
    database = app.extensions["database"]
    friday = datetime(2026, 3, 6, 1, 0, tzinfo=UTC)  # Friday 09:00 Shanghai, due 13:00
    clock.set(friday)
    instance_id, task_id = start_simple(app)
    monday_1000 = datetime(2026, 3, 9, 2, 0, tzinfo=UTC)
    clock.set(monday_1000)
    with database.transaction() as session:
        app.extensions["runtime"].complete_task(session, task_id, {"note": "late"}, Actor(None, "t"))
    with database.session() as session:
        row = session.get(TaskLateness, task_id)
        # Friday 13:00–17:30 and Monday 08:30–10:00: 6 working hours = 1 started working day,
        # although 69 calendar hours (3 started calendar days) passed.
        assert (row.days_late, row.basis, row.instance_id) == (1, "working", instance_id)
    due, done = friday + timedelta(hours=4), monday_1000
    assert WorkingCalendar().days_late(due, done, "calendar") == 3
    assert WorkingCalendar().days_late(due, done, "working") == 1


def test_new_task_rework_and_inbox_notifications(app, client):
    database = app.extensions["database"]
    runtime = app.extensions["runtime"]
    instance_id, enter_id = start_simple(app)
    with database.transaction() as session:
        runtime.complete_task(session, enter_id, {"note": "x"}, Actor(None, "t"))
        review = session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id,
                                                         HumanTask.state == TaskState.OPEN)).one()
        runtime.complete_task(session, review.id, {"decision": "reject"}, Actor(None, "t"))
    with database.session() as session:
        kinds = notes(session)
    assert ("quality", "new_task") in kinds and ("quality_head", "new_task") in kinds
    assert ("marketing", "rework") in kinds and ("marketing_head", "rework") in kinds  # "enter" again
    login(client, "marketing")
    page = client.get("/inbox/").get_data(as_text=True)
    assert 'data-testid="unread-count">2<' in page
    listing = client.get("/notifications/").get_data(as_text=True)
    assert "任务被退回整改" in listing and "本部门有新任务" in listing


def test_notification_failure_never_breaks_the_workflow(app, monkeypatch):
    def broken(session, opened):
        raise RuntimeError("boom")

    monkeypatch.setattr(notifications, "notify_opened", broken)
    instance_id, task_id = start_simple(app)
    with app.extensions["database"].session() as session:
        assert session.get(ProcessInstance, instance_id) is not None
        assert session.get(HumanTask, task_id).state == TaskState.OPEN
        assert session.scalar(select(func.count(Notification.id))) == 0


def test_emails_in_the_recipients_language_with_opt_outs(app, smtp_server):
    database = app.extensions["database"]
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_server.port)
    with database.transaction() as session:
        session.get(User, user_id(session, "marketing_head")).locale = "en"
        notifications.set_opt_outs(session, user_id(session, "quality"), {("new_task", "email")})
    instance_id, enter_id = start_simple(app)
    with database.transaction() as session:
        app.extensions["runtime"].complete_task(session, enter_id, {"note": "x"}, Actor(None, "t"))
    sent, failed = notifications.drain_outbox(database, app.config)
    assert (sent, failed) == (3, 0)
    [zh] = smtp_server.inbox.to("marketing@example.com")
    assert zh["Subject"].startswith("本部门有新任务：登记")
    assert "您好" in zh.get_content()
    [en] = smtp_server.inbox.to("marketing_head@example.com")
    assert en["Subject"].startswith("New task for your department: Enter")
    assert "/tasks/" + enter_id in en.get_content()
    assert len(smtp_server.inbox.to("quality_head@example.com")) == 1
    assert smtp_server.inbox.to("quality@example.com") == []  # opted out of e-mail ...
    with database.session() as session:  # ... but still told in the application
        assert ("quality", "new_task") in notes(session)
    assert notifications.drain_outbox(database, app.config) == (0, 0)  # nothing sent twice


def test_smtp_down_is_retried_later_and_not_lost(app, smtp_port):
    database = app.extensions["database"]
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_port, MAIL_TIMEOUT=2, OUTBOX_RETRY_SECONDS=60)
    t0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    clock.set(t0)
    instance_id, task_id = start_simple(app)  # the workflow commits although mail is down
    assert notifications.drain_outbox(database, app.config) == (0, 2)
    with database.session() as session:
        rows = session.scalars(select(EmailOutbox)).all()
        assert [(r.status, r.attempts) for r in rows] == [("pending", 1)] * 2
        assert all(r.next_attempt_at == t0 + timedelta(seconds=60) and r.last_error for r in rows)
        assert session.get(HumanTask, task_id).state == TaskState.OPEN
    server = SmtpServer(smtp_port).start()
    try:
        clock.set(t0 + timedelta(seconds=30))
        assert notifications.drain_outbox(database, app.config) == (0, 0)  # not yet: backoff
        clock.set(t0 + timedelta(seconds=61))
        assert notifications.drain_outbox(database, app.config) == (2, 0)
        assert len(server.inbox.to("marketing@example.com")) == 1
    finally:
        server.stop()
    with database.session() as session:
        assert [(r.status, r.attempts) for r in session.scalars(select(EmailOutbox))] == [("sent", 2)] * 2


def test_permanent_failure_is_recorded(app, smtp_port):
    database = app.extensions["database"]
    app.config.update(MAIL_PORT=smtp_port, MAIL_TIMEOUT=2, OUTBOX_MAX_ATTEMPTS=2, OUTBOX_RETRY_SECONDS=10)
    clock.set(datetime(2026, 3, 2, 1, 0, tzinfo=UTC))
    start_simple(app)
    notifications.drain_outbox(database, app.config)
    clock.advance(timedelta(seconds=11))
    notifications.drain_outbox(database, app.config)
    with database.session() as session:
        rows = session.scalars(select(EmailOutbox)).all()
        assert rows and all(r.status == "failed" and r.attempts == 2 for r in rows)
    clock.advance(timedelta(days=1))
    assert notifications.drain_outbox(database, app.config) == (0, 0)


def test_opt_out_settings_page_and_mark_read(app, client):
    start_simple(app)
    login(client, "marketing")
    from tests.conftest import csrf_token

    token = csrf_token(client, "/notifications/settings")
    form = {"csrf_token": token}
    for kind in NotificationKind.ALL:  # every kind ticked but one
        form[f"{kind}:in_app"] = "1"
        if kind != "overdue":
            form[f"{kind}:email"] = "1"
    assert client.post("/notifications/settings", data=form).status_code == 302
    with app.extensions["database"].session() as session:
        assert notifications.opt_outs(session, user_id(session, "marketing")) == {("overdue", "email")}
        note_id = session.scalar(select(Notification.id).join(User, User.id == Notification.user_id)
                                 .where(User.username == "marketing"))
    token = csrf_token(client, "/notifications/")
    assert client.post(f"/notifications/{note_id}/read", data={"csrf_token": token}).status_code == 302
    with app.extensions["database"].session() as session:
        assert notifications.unread_count(session, user_id(session, "marketing")) == 0


def test_task_recipients_are_the_active_members_with_their_opt_outs(app):
    """The department members come as plain rows (id, e-mail, language) read with their opt-outs
    of the asked kinds: each member once per department even with several opt-outs, inactive
    users left out, an opted-out member still a recipient (plan() drops the channel), other
    kinds' opt-outs not taken; an assignee comes as the session's user."""
    from app.data.models import Department, Membership

    with app.extensions["database"].transaction() as session:
        quality = session.scalars(select(Department).where(Department.code == "quality")).one()
        marketing = session.scalars(select(Department).where(Department.code == "marketing")).one()
        head = session.get(User, user_id(session, "quality_head"))
        head.locale = "en"
        session.add(Membership(user_id=head.id, department_id=marketing.id, is_head=False))
        session.get(User, user_id(session, "marketing_head")).active = False
        notifications.set_opt_outs(session, head.id, {("new_task", "email"), ("new_task", "in_app"),
                                                      ("rework", "email"), ("overdue", "email")})
        tasks = [HumanTask(id="t-quality", department_id=quality.id), HumanTask(id="t-marketing",
                                                                                 department_id=marketing.id),
                 HumanTask(id="t-assigned", department_id=quality.id, assignee_id=user_id(session, "marketing")),
                 HumanTask(id="t-nowhere")]
        known = notifications.OptOuts(notifications.TASK_KINDS)
        found = notifications.tasks_recipients(session, tasks, known)
        ids = {name: user_id(session, name) for name in ("quality", "quality_head", "marketing")}
        assert found["t-quality"] == [(ids["quality"], "quality@example.com", "zh"),
                                      (ids["quality_head"], "quality_head@example.com", "en")]
        assert found["t-marketing"] == [(ids["marketing"], "marketing@example.com", "zh"),
                                        (ids["quality_head"], "quality_head@example.com", "en")]
        assert found["t-assigned"] == [session.get(User, ids["marketing"])]
        assert found["t-nowhere"] == []
        assert known.users == {ids["quality"], ids["quality_head"], ids["marketing"]}
        assert known.found == {(ids["quality_head"], "new_task", "email"), (ids["quality_head"], "new_task", "in_app"),
                               (ids["quality_head"], "rework", "email")}
        assert notifications.task_recipients(session, tasks[0]) == found["t-quality"]
        batch = notifications.plan(session, [(found["t-quality"], NotificationKind.NEW_TASK, tasks[0], None)], known)
        assert [(row["user_id"], row["in_app"]) for row in batch.rows] == [(ids["quality"], True)]
        assert list(batch.mail_to) == [(ids["quality"], NotificationKind.NEW_TASK, "t-quality")]
        session.rollback()


def test_department_notices_in_one_statement_are_those_plan_makes(app):
    """PostgreSQL works out a department task's recipients in the statement that inserts the
    notifications (DepartmentNotices): the same rows, in the same order, and the same outbox rows
    as plan() + Batch.insert — opt-outs of one channel or both, an inactive member, a member
    without an address, a language other than zh/en, a member of two departments, a department
    without anyone."""
    import pytest

    from app.data.models import Department, Membership
    from tests.conftest import BACKEND

    if BACKEND != "postgres":
        pytest.skip("the one-statement notifications are PostgreSQL's")
    database = app.extensions["database"]
    with database.transaction() as session:
        quality, marketing, management = (
            session.scalars(select(Department).where(Department.code == code)).one()
            for code in ("quality", "marketing", "management"))
        head = session.get(User, user_id(session, "quality_head"))
        head.locale = "fr"
        session.add(Membership(user_id=head.id, department_id=marketing.id, is_head=False))
        session.get(User, user_id(session, "marketing_head")).active = False
        session.get(User, user_id(session, "marketing")).email = ""
        notifications.set_opt_outs(session, head.id, {("new_task", "in_app"), ("rework", "email"),
                                                      ("rework", "in_app")})
        notifications.set_opt_outs(session, user_id(session, "quality"), {("rework", "in_app")})
        for member in session.scalars(select(Membership).where(Membership.department_id == management.id)):
            session.delete(member)
    instance_id, _task_id = start_simple(app)
    clock.set(MONDAY_0900)

    def made(one_statement: bool) -> tuple[list[tuple], list[tuple]]:
        with database.session() as session:
            tasks = [HumanTask(id=f"t-{i}", instance_id=instance_id, process_key="simple", element_id="enter",
                               title=f"任务 {i}", state=TaskState.OPEN, department_id=dept.id, case_number=f"FB-{i}",
                               created_at=MONDAY_0900) for i, dept in enumerate((quality, marketing, management))]
            session.add_all(tasks)
            session.flush()
            kinds = [NotificationKind.NEW_TASK, NotificationKind.REWORK, NotificationKind.NEW_TASK]
            if one_statement:
                found = notifications.DepartmentNotices(now=MONDAY_0900, notes=[
                    (task, kind, notifications.task_params(session, task, {"n": i}))
                    for i, (task, kind) in enumerate(zip(tasks, kinds, strict=True))])
            else:
                known = notifications.OptOuts(notifications.TASK_KINDS)
                recipients = notifications.tasks_recipients(session, tasks, known)
                found = notifications.plan(session, [(recipients[task.id], kind, task, {"n": i})
                                                     for i, (task, kind) in enumerate(zip(tasks, kinds, strict=True))],
                                           known)
            count = found.insert(session)
            notes = session.execute(select(
                Notification.id, Notification.user_id, Notification.kind, Notification.task_id,
                Notification.case_number, Notification.params, Notification.in_app, Notification.created_at,
            ).order_by(Notification.id)).all()
            mails = session.execute(select(EmailOutbox.notification_id, EmailOutbox.to_address, EmailOutbox.locale,
                                           EmailOutbox.status, EmailOutbox.subject, EmailOutbox.body,
                                           EmailOutbox.attempts, EmailOutbox.next_attempt_at)
                                    .order_by(EmailOutbox.notification_id)).all()
            session.rollback()
            assert count == len(notes)
            first = notes[0].id
            return ([(n.id - first, *n[1:]) for n in notes], [(m.notification_id - first, *m[1:]) for m in mails])

    with database.session() as session:
        session.execute(EmailOutbox.__table__.delete())
        session.execute(Notification.__table__.delete())
        session.commit()
    assert made(True) == made(False)
    notes, mails = made(True)
    # quality's (in-app and e-mail), their head's (e-mail only, in Chinese), marketing's (no address: in-app)
    assert [(n[2], n[3], n[6]) for n in notes] == [("new_task", "t-0", True), ("new_task", "t-0", False),
                                                   ("rework", "t-1", True)]
    assert [(m[1], m[2]) for m in mails] == [("quality@example.com", "zh"), ("quality_head@example.com", "zh")]
