"""A head's assignment and a delegation tell the colleague who now holds the task."""

from sqlalchemy import select

from app.data.models import HumanTask, Notification, TaskState, User
from app.engine.context import Actor
from app.services import inbox
from app.services.cases import open_case


def _user(session, username):
    return session.scalars(select(User).where(User.username == username)).one()


def _verify_task(app):
    database = app.extensions["database"]
    with database.transaction() as session:
        case = open_case(session, app.extensions["runtime"],
                         {"customer_name": "通知客户", "description": "d", "feedback_type": "complaint",
                          "urgency": "general"}, Actor(None, "test"))
        return session.scalars(select(HumanTask.id).where(HumanTask.case_id == case.id,
                                                          HumanTask.state == TaskState.OPEN)).one()


def _assigned_notes(session, username):
    user = _user(session, username)
    return session.scalars(select(Notification).where(Notification.user_id == user.id,
                                                      Notification.kind == "assigned")).all()


def test_head_assignment_notifies_the_assignee(app):
    task_id = _verify_task(app)
    database = app.extensions["database"]
    with database.transaction() as session:
        assert _assigned_notes(session, "marketing") == []
        inbox.assign(session, _user(session, "marketing_head"), task_id, _user(session, "marketing").id)
    with database.transaction() as session:
        [note] = _assigned_notes(session, "marketing")
        assert note.task_id == task_id
        assert _assigned_notes(session, "marketing_head") == []


def test_delegation_notifies_the_delegate(app):
    task_id = _verify_task(app)
    database = app.extensions["database"]
    with database.transaction() as session:
        inbox.assign(session, _user(session, "marketing_head"), task_id, _user(session, "marketing_head").id)
        assert _assigned_notes(session, "marketing_head") == []  # assigning oneself tells nobody
        inbox.delegate(session, _user(session, "marketing_head"), task_id, _user(session, "marketing").id)
    with database.transaction() as session:
        [note] = _assigned_notes(session, "marketing")
        assert note.task_id == task_id
