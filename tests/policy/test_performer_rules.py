"""The performer rule on its own (plain objects, no database): it narrows who of those who may act
on a task may complete it — never widens it."""

from __future__ import annotations

import pytest

from app.data.models import Department, HumanTask, Membership, TaskState, User, UserRole
from app.services import policy
from app.services.errors import Forbidden

QUALITY, PRODUCTION = 2, 4


def person(user_id: int, departments: dict[int, bool], roles: tuple[str, ...] = ()) -> User:
    return User(id=user_id, username=f"u{user_id}", display_name=f"u{user_id}", active=True,
                memberships=[Membership(department_id=d, is_head=head) for d, head in departments.items()],
                roles=[UserRole(role=r) for r in roles])


def task(performer: str | None, assignee_id: int | None = None) -> HumanTask:
    return HumanTask(id="t", state=TaskState.OPEN, department_id=QUALITY, performer=performer, assignee_id=assignee_id)


STAFF = person(1, {QUALITY: False})
ENGINEER = person(2, {QUALITY: False}, ("quality_engineer",))
HEAD = person(3, {QUALITY: True})
OUTSIDER_ENGINEER = person(4, {PRODUCTION: False}, ("quality_engineer",))


@pytest.mark.parametrize(("performer", "who", "may"), [
    (None, STAFF, True), ("head", STAFF, False), ("head", HEAD, True), ("head", ENGINEER, False),
    ("quality_engineer", ENGINEER, True), ("quality_engineer", STAFF, False), ("quality_engineer", HEAD, False),
    ("head,quality_engineer", HEAD, True), ("head,quality_engineer", ENGINEER, True),
    ("head,quality_engineer", STAFF, False),
    ("quality_engineer", OUTSIDER_ENGINEER, False),  # the role does not make a non-member act on it
])
def test_performer_narrows_who_completes_and_claims(performer, who, may):
    subject = task(performer)
    assert policy.may_complete(who, subject) is may
    assert policy.may_claim(who, subject) is may
    if not may:
        with pytest.raises(Forbidden):
            policy.require_complete(who, subject)


def test_the_refusal_says_why():
    with pytest.raises(Forbidden) as refused:
        policy.require_complete(STAFF, task("head"))
    assert refused.value.message == "Only the head of the task's department may do this task."
    with pytest.raises(Forbidden) as refused:
        policy.require_complete(OUTSIDER_ENGINEER, task("quality_engineer"))
    assert refused.value.message == "You may not act on this task."


def test_an_assignee_who_does_not_qualify_may_not_complete_and_cannot_be_chosen():
    held = task("head", assignee_id=STAFF.id)
    assert not policy.may_complete(STAFF, held)
    assert policy.may_complete(HEAD, held)  # the head may act on a held task of the department
    assert not policy.may_be_assigned(STAFF, held) and policy.may_be_assigned(HEAD, held)
    assert policy.may_be_delegate(STAFF, held)  # a delegate only drafts; the delegator completes


def test_who_may_start_a_process_by_hand():
    quality = Department(id=QUALITY, code="quality", name_zh="质量部", name_en="Quality")
    head = person(5, {QUALITY: True})
    staff = person(6, {QUALITY: False})
    admin = person(7, {}, ("admin",))
    for user in (head, staff):
        for membership in user.memberships:
            membership.department = quality
    rule = ("head:quality", "admin")
    assert [policy.may_start_by_hand(u, rule) for u in (head, staff, admin, None)] == [True, False, True, False]
    assert policy.may_start_by_hand(head, ("head:质量部",)) and policy.may_start_by_hand(head, ("head:Quality",))
    assert not policy.may_start_by_hand(head, ("head:production",))
    assert not policy.may_start_by_hand(admin, ())  # no manualStart: nobody, admins neither
