"""Comments on a case: staff talk about it where the case is, @mention colleagues (who are
notified in the app and by e-mail) and mark what is internal. Every comment is an audit event,
so it is in the case's timeline and its trail."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.clock import clock
from app.data.models import Case, CaseComment, User
from app.data.models.notifications import NotificationKind
from app.engine import audit
from app.i18n import N_
from app.services import notifications, policy
from app.services.cases import get_case
from app.services.errors import InvalidInput
from app.services.tasks import actor_for

#: the audit action of a comment (its timeline entry)
COMMENTED = "case_comment"
MAX_LENGTH = 5000
MENTION_RE = re.compile(r"(?<![\w@.])@([A-Za-z0-9][A-Za-z0-9_.\-]{0,79})")


@dataclass
class Posted:
    """A new comment, who it notified, and the @names that notified nobody (unknown, or who
    may not see the case)."""

    comment: CaseComment
    notified: list[User]
    not_notified: list[str]


def visible_case(session: Session, user: User, case_id: int) -> Case:
    """The case whose comments ``user`` may read and add to; NotFound / Forbidden otherwise."""
    case = get_case(session, case_id)
    policy.require(policy.may_comment(session, user, case), N_("You may not see this case."))
    return case


def mentioned_names(body: str) -> list[str]:
    """The @usernames in a comment, each once, in order (trailing dots are punctuation)."""
    names = [m.rstrip(".") for m in MENTION_RE.findall(body or "")]
    return list(dict.fromkeys(n for n in names if n))


def _mentioned(session: Session, case: Case, author: User, names: list[str]) -> tuple[list[User], list[str]]:
    if not names:
        return [], []
    found = {u.username.lower(): u for u in session.scalars(
        select(User).where(func.lower(User.username).in_([n.lower() for n in names]), User.active.is_(True)))}
    notified, missed = [], []
    for name in names:
        user = found.get(name.lower())
        if user is not None and user.id != author.id and policy.may_comment(session, user, case):
            notified.append(user)
        elif user is None or user.id != author.id:
            missed.append(name)
    return notified, missed


def add_comment(session: Session, author: User, case_id: int, body: str, internal: bool = True) -> Posted:
    """Add ``author``'s comment to the case; its mentions are notified. Raises InvalidInput
    for an empty or too long text, NotFound/Forbidden for a case the author may not see."""
    case = visible_case(session, author, case_id)
    text = (body or "").replace("\r\n", "\n").strip()
    if not text:
        raise InvalidInput(N_("Write a comment first."))
    if len(text) > MAX_LENGTH:
        raise InvalidInput(N_("A comment may have at most 5000 characters."))
    notified, missed = _mentioned(session, case, author, mentioned_names(text))
    comment = CaseComment(case_id=case.id, author_id=author.id, body=text, internal=bool(internal),
                          mentions=[u.id for u in notified], created_at=clock.now())
    session.add(comment)
    session.flush()
    audit.record(session, actor=actor_for(author), action=COMMENTED, case_id=case.id,
                 after={"comment_id": comment.id, "body": text, "internal": comment.internal,
                        "mentions": [u.username for u in notified]})
    notifications.notify_about_case(session, notified, NotificationKind.MENTION, case.id, case.number, {
        "case_number": case.number, "customer_name": case.customer_name, "by": author.display_name,
        "excerpt": text[:200], "internal": comment.internal,
    })
    return Posted(comment, notified, missed)


def comments_of(session: Session, user: User, case_id: int) -> Sequence[CaseComment]:
    """The case's comments, oldest first, for a user who may see the case."""
    case = visible_case(session, user, case_id)
    return session.scalars(
        select(CaseComment).where(CaseComment.case_id == case.id).order_by(CaseComment.created_at, CaseComment.id)
    ).all()
