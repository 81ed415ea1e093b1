"""Who may do what: every authorization decision of the application, in one module.

Each function answers one question from the user's roles, department memberships (staff or
head), whom the user stands in for today, and the task's own BPMN properties as projected
into ``human_task`` (department, assignee, ``performer``, ``approval``, ``submittedBy``).
Web views, API endpoints, the approvals screen and the services call these functions and
decide nothing themselves; :func:`require` turns a "no" into
:class:`~app.services.errors.Forbidden` (403 in every channel).

The rules:

- **Overseers** (roles admin, manager, auditor) see every task, case and approval item, the
  "all open tasks" inbox and the instance viewer; they act on tasks only as members of a
  department like everyone else.
- **Tasks** are seen by their department, their assignee and whoever stands in for one of
  them. They are acted on (claimed, completed, decided) by the assignee, by the head of the
  task's department while someone holds it, or — while nobody does — by a member of the
  department. A substitute acts within the rights of the person they stand in for.
- The task's **performer** property narrows who of those may claim and complete it:
  ``head`` = a head of the task's department, a role name = users with that role (several
  values: any of them). It holds in every channel and for substitutes too (the person stood
  in for must qualify), and a head may only assign such a task to a colleague who qualifies.
  A delegate only drafts (the delegator completes), so delegating is not restricted.
- **Four-eyes**: whoever completed one of the tasks a step names in ``submittedBy`` may not
  complete that step.
- **Approvals**: a task with an ``approval`` property is decided by whoever may complete it.
- **Starting a process by hand**: only a process whose start event has a ``manualStart``
  property, by whom it names — ``head:<department>`` (a head of that department, in their own
  right) or a role. Processes started by the application (a new case, a schedule, a message)
  have none.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.orm import Session, object_session

from app.clock import local_now
from app.data.models import Case, DelegationState, HumanTask, TaskDelegation, TaskState, User
from app.data.queries.cases import case_has_department_task
from app.data.queries.people import substituted_users
from app.engine.properties import HEAD, head_of, listed
from app.i18n import N_
from app.services.errors import Forbidden

# ---------------------------------------------------------------------------- who is who (declared once)

#: see every task, case, approval item and process instance (read-only where they are no member)
OVERSEER_ROLES = ("admin", "manager", "auditor")
ADMIN_ROLES = ("admin",)
AUDIT_ROLES = ("auditor", "admin")
DESIGNER_ROLES = ("designer", "admin")
INSTANCE_VIEWER_ROLES = ("designer", *OVERSEER_ROLES)
#: read every case: overseers and quality engineers (wherever they sit), and these departments' members
CASE_READER_ROLES = (*OVERSEER_ROLES, "quality_engineer")
CASE_READER_DEPARTMENTS = frozenset({"marketing", "quality"})
#: open (register) cases
CASE_OPENER_ROLES = ("admin",)
CASE_OPENER_DEPARTMENTS = frozenset({"marketing"})
#: read and export every weekly assessment; department heads read their own departments' rows
ASSESSMENT_READER_ROLES = OVERSEER_ROLES
ASSESSMENT_READER_DEPARTMENTS = frozenset({"quality", "finance"})
#: read only: never stand in for anyone (they would act on tasks)
READ_ONLY_ROLES = ("auditor",)



def require(allowed: bool, message: str = N_("You may not do this.")) -> None:
    """Raise Forbidden with ``message`` (an N_() msgid) unless ``allowed``."""
    if not allowed:
        raise Forbidden(message)


# ---------------------------------------------------------------------------- people


class RuleFacts(Protocol):
    """The columns of a task the completion rule reads (a task, or a row of just these)."""

    @property
    def state(self) -> str: ...
    @property
    def department_id(self) -> int | None: ...
    @property
    def assignee_id(self) -> int | None: ...
    @property
    def performer(self) -> str | None: ...


@dataclass(frozen=True)
class Person:
    """What the rules need to know about a user (the user, or someone they stand in for)."""

    id: int
    name: str
    department_ids: frozenset[int]
    head_of_ids: frozenset[int]
    roles: frozenset[str]

    @classmethod
    def of(cls, user: User) -> Person:
        return cls(user.id, user.display_name or user.username, frozenset(user.department_ids),
                   frozenset(user.head_of_ids), frozenset(user.role_names))


@dataclass(frozen=True)
class StandIn:
    """The people a user substitutes today."""

    principals: tuple[Person, ...] = ()

    @property
    def user_ids(self) -> frozenset[int]:
        return frozenset(p.id for p in self.principals)

    @property
    def department_ids(self) -> frozenset[int]:
        return frozenset(d for p in self.principals for d in p.department_ids)

    @property
    def names(self) -> tuple[tuple[int, str], ...]:
        return tuple((p.id, p.name) for p in self.principals)


def stand_in(user: User) -> StandIn:
    """Whom ``user`` stands in for today (Shanghai date), from the substitutions they were named in."""
    session = object_session(user)
    if session is None or user.id is None:
        return StandIn()
    today = local_now().date()
    return StandIn(tuple(_within(Person.of(p), user) for p in substituted_users(session, user.id, today)
                         if may_name_substitute(p, user)))


def _within(principal: Person, substitute: User) -> Person:
    """The principal's rights as far as the substitute may use them: only the departments both
    belong to (a substitute never reaches a department that is not their own)."""
    if not principal.department_ids:
        return principal
    shared = principal.department_ids & frozenset(substitute.department_ids)
    return Person(principal.id, principal.name, shared, principal.head_of_ids & shared, principal.roles)


def _people(user: User, standing: StandIn | None) -> Iterator[tuple[Person, bool]]:
    """The user (own rights: True), then — only if asked for — whom they stand in for."""
    yield Person.of(user), True
    yield from ((p, False) for p in (standing if standing is not None else stand_in(user)).principals)


def oversees(user: User) -> bool:
    return user.has_role(*OVERSEER_ROLES)


def may_administer(user: User) -> bool:
    """Users, departments, roles, incidents and the working calendar."""
    return user.has_role(*ADMIN_ROLES)


def may_explore_audit(user: User | None) -> bool:
    """The audit explorer, its exports and the chain verification: auditors and admins read
    the whole trail (read-only)."""
    return user is not None and user.has_role(*AUDIT_ROLES)


def may_design(user: User | None) -> bool:
    """Edit, validate, deploy and migrate process definitions and forms."""
    return user is not None and user.has_role(*DESIGNER_ROLES)


def may_view_instances(user: User | None) -> bool:
    return user is not None and user.has_role(*INSTANCE_VIEWER_ROLES)


def may_name_substitute(user: User, substitute: User | None) -> bool:
    """Anyone names an active colleague (not themselves) to stand in for them: a member of one
    of their departments (someone without a department: anyone holding all of their roles),
    never someone with a read-only role. The same rule decides, every day, whether a named
    substitute still stands in (:func:`stand_in`), so a later move or role change ends it."""
    if substitute is None or not substitute.active or substitute.id == user.id:
        return False
    if substitute.has_role(*READ_ONLY_ROLES):
        return False
    if user.department_ids:
        return bool(set(user.department_ids) & set(substitute.department_ids))
    return user.role_names <= substitute.role_names


def may_start_by_hand(user: User | None, who: Collection[str]) -> bool:
    """Start a process by hand: the user meets one of its start event's ``manualStart`` values
    (``head:<department>`` or a role); nobody may when it names none."""
    if user is None or not who:
        return False
    # a diagram may name the department by its code or its name, as lanes do
    headed = {name.lower() for m in user.memberships if m.is_head and m.department is not None
              for name in (m.department.code, m.department.name_zh, m.department.name_en)}
    return any(head_of(value) in headed if head_of(value) else user.has_role(value) for value in who)


# ---------------------------------------------------------------------------- tasks


def performs(person: Person, task: RuleFacts) -> bool:
    """Whether ``person`` meets the task's ``performer`` rule (no rule: everyone does)."""
    rule = listed(task.performer)
    return not rule or any(
        (value == HEAD and task.department_id in person.head_of_ids) or value in person.roles for value in rule
    )


def _acts(person: Person, task: RuleFacts, own: bool) -> bool:
    """The assignee; the department head while someone holds it (own rights only, not a
    substitute's); while nobody holds it, a member of its department."""
    if task.assignee_id is not None:
        return task.assignee_id == person.id or (own and task.department_id in person.head_of_ids)
    return task.department_id is not None and task.department_id in person.department_ids


def may_see_all_tasks(user: User) -> bool:
    """The "all open tasks" inbox view and API scope."""
    return oversees(user)


def may_view_task(user: User, task: HumanTask, standing: StandIn | None = None) -> bool:
    """Its department, its assignee, overseers, and a substitute of its assignee or of a member."""
    if task.assignee_id == user.id or task.department_id in user.department_ids or oversees(user):
        return True
    standing = standing if standing is not None else stand_in(user)
    return task.assignee_id in standing.user_ids or task.department_id in standing.department_ids


def _completes(people: Iterable[tuple[Person, bool]], task: RuleFacts) -> bool:
    return task.state == TaskState.OPEN and any(_acts(person, task, own) and performs(person, task)
                                                for person, own in people)


def may_complete(user: User, task: HumanTask, standing: StandIn | None = None) -> bool:
    """Complete (or decide) the open task: someone who may act on it and meets its performer rule."""
    return _completes(_people(user, standing), task)


def completer(user: User, standing: StandIn) -> Callable[[RuleFacts], bool]:
    """:func:`may_complete` for many tasks: the user's people are built once, not per task (the
    approvals badge asks it of every open approval item in the user's reach)."""
    people = tuple(_people(user, standing))
    return lambda task: _completes(people, task)


def _refuse_performer(task: HumanTask) -> Forbidden:
    if listed(task.performer) == (HEAD,):
        return Forbidden(N_("Only the head of the task's department may do this task."))
    return Forbidden(N_("Only the people this step names (its performer) may do this task."))


def _require_one(task: HumanTask, candidates: Iterable[Person]) -> None:
    """Pass when one of ``candidates`` (who may act) meets the performer rule; else say why not.
    Lazy: whom the user stands in for is looked up only when their own rights do not suffice."""
    acting = False
    for person in candidates:
        if performs(person, task):
            return
        acting = True
    if not acting:
        raise Forbidden(N_("You may not act on this task."))
    raise _refuse_performer(task)


def require_complete(user: User, task: HumanTask, standing: StandIn | None = None) -> None:
    """Forbidden, saying why, unless ``user`` may complete the open ``task``."""
    _require_one(task, (person for person, own in _people(user, standing) if _acts(person, task, own)))


def completion_reach(user: User, standing: StandIn | None = None) -> tuple[frozenset[int], frozenset[int]]:
    """(department ids, assignee ids) outside which :func:`may_complete` is never true for ``user``:
    lets a query narrow open tasks in SQL before the rule is applied to each one."""
    people = [person for person, _own in _people(user, standing)]
    return (frozenset(d for p in people for d in p.department_ids), frozenset(p.id for p in people))


def may_claim(user: User, task: HumanTask, standing: StandIn | None = None) -> bool:
    """Take the open task: a member of its department (or their substitute) who meets its performer rule."""
    return task.state == TaskState.OPEN and any(
        task.department_id is not None and task.department_id in person.department_ids and performs(person, task)
        for person, _own in _people(user, standing)
    )


def require_claim(user: User, task: HumanTask, standing: StandIn | None = None) -> None:
    """Forbidden, saying why, unless ``user`` may claim the open ``task``."""
    _require_one(task, (person for person, _own in _people(user, standing)
                        if task.department_id is not None and task.department_id in person.department_ids))


def may_release(user: User, task: HumanTask) -> bool:
    """Give a held task back to the department queue: its holder or the department head."""
    return task.state == TaskState.OPEN and task.assignee_id is not None and (
        task.assignee_id == user.id or task.department_id in user.head_of_ids)


def may_assign(user: User, task: HumanTask) -> bool:
    """Assign or reassign the open task: a head of its department."""
    return task.state == TaskState.OPEN and task.department_id is not None and task.department_id in user.head_of_ids


def may_be_assigned(colleague: User, task: HumanTask) -> bool:
    """Receive the task from the head: an active member of its department who meets its performer rule."""
    return (colleague.active and task.department_id is not None and task.department_id in colleague.department_ids
            and performs(Person.of(colleague), task))


def may_delegate(user: User, task: HumanTask, delegated: bool = False) -> bool:
    """Hand a task one holds to a colleague for a draft (it comes back for the final check)."""
    return task.state == TaskState.OPEN and task.assignee_id == user.id and not delegated


def may_be_delegate(colleague: User, task: HumanTask) -> bool:
    """Draft for the holder: an active member of the task's department. A delegate never
    completes the task (the delegator does, and must qualify), so the performer rule does not apply."""
    return colleague.active and task.department_id is not None and task.department_id in colleague.department_ids


def drafts_for(user: User, delegation: TaskDelegation | None) -> bool:
    """The delegate of an active delegation: saves a draft for the delegator, never completes."""
    return delegation is not None and delegation.state == DelegationState.ACTIVE and delegation.delegate_id == user.id


def checks_draft(user: User, delegation: TaskDelegation | None) -> bool:
    """The delegator of a returned delegation: does the final check (and completes, if they qualify)."""
    return (delegation is not None and delegation.state == DelegationState.RETURNED
            and delegation.delegator_id == user.id)


def may_recall(user: User, delegation: TaskDelegation | None) -> bool:
    """The delegator takes an active delegation back."""
    return delegation is not None and delegation.state == DelegationState.ACTIVE and delegation.delegator_id == user.id


def passes_four_eyes(user: User, submitters: Collection[int]) -> bool:
    """Whoever submitted the work under decision may not decide on it."""
    return user.id not in submitters


@dataclass
class InboxRights:
    """The per-row buttons of an inbox page (one stand-in lookup for the whole page)."""

    user: User
    standing: StandIn
    delegated: Collection[str] = ()

    def may_claim(self, task: HumanTask) -> bool:
        return task.assignee_id is None and may_claim(self.user, task, self.standing)

    def may_release(self, task: HumanTask) -> bool:
        return task.id not in self.delegated and may_release(self.user, task)

    def may_assign(self, task: HumanTask) -> bool:
        return may_assign(self.user, task)

    def may_delegate(self, task: HumanTask) -> bool:
        return may_delegate(self.user, task, task.id in self.delegated)


# ---------------------------------------------------------------------------- approvals


def may_see_approval(user: User, task: HumanTask, standing: StandIn | None = None) -> bool:
    """An approval item is listed for overseers and for whoever would decide it if it were theirs
    (a member of its department, or their substitute, meeting its performer rule)."""
    return approval_viewer(user, standing)(task)


def approval_viewer(user: User, standing: StandIn | None = None) -> Callable[[RuleFacts], bool]:
    """:func:`may_see_approval` for many items: the user's people built once (the approvals
    screen asks it of every open approval item)."""
    if oversees(user):
        return lambda task: True
    people = tuple(person for person, _own in _people(user, standing))
    return lambda task: task.department_id is not None and any(
        task.department_id in person.department_ids and performs(person, task) for person in people)


def may_decide(user: User, task: HumanTask, submitters: Collection[int], standing: StandIn | None = None) -> bool:
    """Decide the approval item now: may complete it and did not submit the work."""
    return passes_four_eyes(user, submitters) and may_complete(user, task, standing)


def may_use_approvals(user: User, approval_department_ids: Collection[int], standing: StandIn | None = None) -> bool:
    """The approvals screen: overseers, and members (or substitutes) of a department that decides approvals."""
    if oversees(user) or set(user.department_ids) & set(approval_department_ids):
        return True
    standing = standing if standing is not None else stand_in(user)
    return bool(set(standing.department_ids) & set(approval_department_ids))


# ---------------------------------------------------------------------------- cases


def department_codes(user: User) -> set[str]:
    return {m.department.code for m in user.memberships if m.department is not None}


def may_open_case(user: User) -> bool:
    """Register a new case: Marketing and admins."""
    return user.has_role(*CASE_OPENER_ROLES) or bool(department_codes(user) & CASE_OPENER_DEPARTMENTS)


def sees_all_cases(user: User) -> bool:
    return user.has_role(*CASE_READER_ROLES) or bool(department_codes(user) & CASE_READER_DEPARTMENTS)


def may_list_cases(user: User) -> bool:
    """The case list: case readers, and members of any department (who see their departments' cases)."""
    return sees_all_cases(user) or bool(user.department_ids)


def may_view_case(session: Session, user: User, case: Case) -> bool:
    """Case readers see every case; others the cases where one of their departments has (or had) a task."""
    return sees_all_cases(user) or case_has_department_task(session, case.id, user.department_ids)


def may_export_case_documents(session: Session, user: User, case: Case) -> bool:
    """The case's printable documents (improvement form, request, 8D reports, dossier): whoever
    may see the case — they show nothing the case page does not."""
    return may_view_case(session, user, case)


# ---------------------------------------------------------------------------- weekly assessments


def reads_all_assessments(user: User) -> bool:
    return user.has_role(*ASSESSMENT_READER_ROLES) or bool(department_codes(user) & ASSESSMENT_READER_DEPARTMENTS)


def headed_department_codes(user: User) -> set[str]:
    return {m.department.code for m in user.memberships if m.is_head and m.department is not None}


def may_read_assessments(user: User) -> bool:
    """The assessment list: readers of all assessments and department heads (their own rows)."""
    return reads_all_assessments(user) or bool(headed_department_codes(user))


def assessment_scope(user: User, departments: Collection[str]) -> set[str] | None:
    """Which departments' rows of an assessment concerning ``departments`` the user may read:
    None for all; otherwise the departments they head (empty: the assessment is not theirs)."""
    if reads_all_assessments(user):
        return None
    return headed_department_codes(user) & set(departments)


def may_export_assessment(user: User) -> bool:
    """The Excel export (Finance applies it): readers of all assessments."""
    return reads_all_assessments(user)


# ---------------------------------------------------------------------------- analysis dashboard and reports

#: the dashboard and the report API over every department
ANALYTICS_ROLES = ("manager", "admin", "quality_engineer")
ANALYTICS_DEPARTMENTS = frozenset({"quality"})


def analytics_sees_all(user: User) -> bool:
    """The General Manager, Quality (its members and quality engineers) and admins see every department."""
    return user.has_role(*ANALYTICS_ROLES) or bool(department_codes(user) & ANALYTICS_DEPARTMENTS)


def may_view_analytics(user: User | None) -> bool:
    """The dashboard, its downloads and case lists, and ``/api/v1/reports``: those who see every
    department, and department heads (their own departments only, see :func:`analytics_scope`)."""
    return user is not None and (analytics_sees_all(user) or bool(user.head_of_ids))


def analytics_scope(user: User) -> frozenset[int] | None:
    """The departments whose figures ``user`` may see: None for all, else the ones they head."""
    return None if analytics_sees_all(user) else frozenset(user.head_of_ids)


def may_view_analytics_department(user: User, department_id: int | None) -> bool:
    """Whether a report filtered on one department (None: none named) is within the user's scope.
    A head who names no department sees their own departments' figures."""
    scope = analytics_scope(user)
    return scope is None or department_id is None or department_id in scope
# ---------------------------------------------------------------------------- drafts and comments


def may_keep_draft(user: User, task: HumanTask) -> bool:
    """Save and read a draft of a task's form: whoever may complete the task now (a draft is
    private to its user; nobody else ever reads it)."""
    return may_complete(user, task)


def may_comment(session: Session, user: User, case: Case) -> bool:
    """Read a case's comments and add one: whoever may see the case (internal or not)."""
    return may_view_case(session, user, case)
# ---------------------------------------------------------------------------- early warning (alerts)

#: handle alerts on repeated problems (acknowledge, link): Quality's staff and head, quality engineers
ALERT_HANDLER_DEPARTMENTS = frozenset({"quality"})
ALERT_HANDLER_ROLES = ("quality_engineer",)
#: read them: the General Manager, admins and auditors besides
ALERT_READER_ROLES = OVERSEER_ROLES


def may_handle_alerts(user: User) -> bool:
    """Acknowledge an alert and link it to a case: Quality (staff, head, quality engineers)."""
    return user.has_role(*ALERT_HANDLER_ROLES) or bool(department_codes(user) & ALERT_HANDLER_DEPARTMENTS)


def may_view_alerts(user: User) -> bool:
    """The alert list and an alert's cases: Quality, and the overseers (read only)."""
    return may_handle_alerts(user) or user.has_role(*ALERT_READER_ROLES)
