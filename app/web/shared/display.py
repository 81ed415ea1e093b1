"""Presentation helpers shared by the inbox, task, case and admin pages.

Everything a template shows about a task, case or submitted form data goes through here so
the pages stay consistent: titles in the user's language, local times, urgency and status
badges, and form data as readable "label: value" lists.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import cached_property
from typing import Any

from babel import dates, numbers
from flask import Flask, current_app, g
from flask_babel import force_locale, format_decimal, get_locale, get_timezone, get_translations
from flask_babel import gettext as _
from jinja2 import pass_context
from markupsafe import Markup, escape

from app.clock import clock
from app.data.models import HumanTask, ProcessDefinition
from app.data.queries.people import departments_by_id, user_names
from app.engine.calendar import default_calendar
from app.engine.definitions.lookup import process_name
from app.engine.limits import translate_incident
from app.errors import AppError
from app.extensions import db
from app.formkit.definition import localized
from app.i18n import N_
from app.services.choices import DatabaseChoices
from app.services.forms import definition_by_key
from app.services.working_ruler import Ruler
from app.web.shared.buttons import task_buttons

DATETIME_PATTERN = "yyyy-MM-dd HH:mm"
#: the same for strftime (years from 1000 on, where both write four digits)
DATETIME_FORMAT = "%Y-%m-%d %H:%M"
URGENCY = {
    "urgent": (N_("Urgent"), "danger"),
    "important": (N_("Important"), "warning"),
    "general": (N_("General"), "secondary"),
}
STATUS = {
    "open": (N_("In progress"), "primary"),
    "in_progress": (N_("In progress"), "primary"),
    "closed": (N_("Closed"), "success"),
    "unresolvable": (N_("Unresolvable"), "secondary"),
    "cancelled": (N_("Cancelled"), "dark"),
    "running": (N_("Running"), "primary"),
    "completed": (N_("Completed"), "success"),
    "incident": (N_("Incident"), "danger"),
}
FEEDBACK_TYPES = {
    "consultation": N_("Consultation"),
    "suggestion": N_("Suggestion"),
    "complaint": N_("Complaint"),
    "praise": N_("Praise"),
}
LANGUAGES = {"zh": "中文", "en": "English"}
#: the customer's clock (app.services.customer_clock): label and colour per state
CLOCK_STATES = {
    "on_track": (N_("On track"), "success"),
    "at_risk": (N_("At risk"), "warning"),
    "breached": (N_("Breached"), "danger"),
    "paused": (N_("Waiting for the customer"), "info"),
    "met": (N_("Met"), "success"),
    "missed": (N_("Missed"), "danger"),
    "stopped": (N_("Stopped"), "secondary"),
}
CLOCKS = {"first_answer": N_("First answer"), "resolution": N_("Resolution")}


#: the actions the trail holds, with their labels (the filter's choices)
AUDIT_ACTIONS = {
    "process_started": N_("Case opened, process started"),
    "task_completed": N_("Task completed"),
    "task_claimed": N_("Task claimed"),
    "task_released": N_("Task released"),
    "task_assigned": N_("Task assigned"),
    "task_delegated": N_("Task delegated"),
    "delegation_recalled": N_("Delegation taken back"),
    "delegation_returned": N_("Delegated draft returned"),
    "delegation_completed": N_("Delegated task completed"),
    "substitute_named": N_("Substitute named"),
    "substitute_ended": N_("Substitution ended"),
    "approval_decision": N_("Approval decided"),
    "case_reclassified": N_("Classification corrected"),
    "timer_fired": N_("Deadline timer fired"),
    "deadline_moved": N_("Deadline moved (the working calendar changed)"),
    "message_delivered": N_("Message received"),
    "event_thrown": N_("Event sent"),
    "process_cancelled": N_("Process cancelled"),
    "incident": N_("Incident"),
    "survey_answered": N_("Satisfaction survey answered"),
    "case_comment": N_("Comment"),
    "definition_deployed": N_("Process version deployed"),
    "form_deployed": N_("Form version deployed"),
    "instance_migrated": N_("Instance migrated"),
    "calendar_override_set": N_("Working calendar entry saved"),
    "calendar_override_removed": N_("Working calendar entry removed"),
    "calendar_year_confirmed": N_("Calendar year confirmed"),
    "calendar_confirmation_withdrawn": N_("Calendar confirmation withdrawn"),
    "setting_changed": N_("Setting changed"),
    "user_created": N_("User created"),
    "user_updated": N_("User changed"),
    "login": N_("Signed in"),
    "login_failed": N_("Failed sign-in"),
    "logout": N_("Signed out"),
    "audit_exported": N_("Audit trail exported"),
    "assessment_exported": N_("Assessment exported"),
    "document_exported": N_("Document exported (PDF)"),
    "report_exported": N_("Management report exported (PDF)"),
    "report_mailed": N_("Monthly management report e-mailed"),
    "retention_applied": N_("Retention applied"),
    "alert_raised": N_("Alert on repeated problems raised"),
    "alert_case_joined": N_("Case joined an alert on repeated problems"),
    "alert_case_left": N_("Case left an alert on repeated problems (no longer matches)"),
    "alert_acknowledged": N_("Alert acknowledged"),
    "alert_linked": N_("Alert linked to a case"),
    "cases_exported": N_("Cases exported"),
}


def locale() -> str:
    return "en" if str(get_locale() or "zh") == "en" else "zh"


# the badges: plain ``%`` over values escaped one by one (``Markup %`` wraps every value in a
# helper object first: it was most of a list page's badge cost), each made once per distinct
# text on a page
_TIME_LEFT = '<span class="badge text-bg-%s time-left" data-testid="time-left" data-state="%s">%s</span>'
_URGENCY = '<span class="badge text-bg-%s" data-testid="urgency">%s</span>'
_CLOCK_STATE = '<span class="badge text-bg-%s" data-testid="clock-state" data-state="%s" title="%s">%s</span>'
_CLOCK_LEFT = ' <span class="small text-body-secondary text-nowrap" data-testid="clock-left">%s</span>'


def _markup(template: str, *values: str) -> Markup:
    """``Markup(template) % values``, each value escaped."""
    return Markup(template % tuple(escape(value) for value in values))  # noqa: S704 - escaped above


class Formatter:
    """The per-row helpers below bound to one request's language, translations, time zone and
    instant, each looked up on first use. The module's functions make one per call; a page of
    many rows (the inbox) makes one and shares it, so that 50 rows do not look the language,
    the translations, the time zone, the working calendar and the settings up a thousand
    times (they were two thirds of the inbox's CPU)."""

    def __init__(self, now: datetime | None = None) -> None:
        self._now = now
        self._decimals: dict[tuple[float, str | None], str] = {}
        self._badges: dict[tuple[str, ...], Markup] = {}

    def _badge(self, template: str, *values: str) -> Markup:
        """A badge made once per page for the same values (a list shows a few dozen distinct ones)."""
        key = (template, *values)
        found = self._badges.get(key)
        if found is None:
            found = self._badges[key] = _markup(template, *values)
        return found

    @cached_property
    def babel_locale(self) -> Any:
        return get_locale()

    @cached_property
    def locale(self) -> str:
        return "en" if str(self.babel_locale or "zh") == "en" else "zh"

    @cached_property
    def timezone(self) -> Any:
        return get_timezone()

    @cached_property
    def translations(self) -> Any:
        return get_translations()

    @cached_property
    def now(self) -> datetime:
        return self._now or clock.now()

    @cached_property
    def calendar(self) -> Ruler:
        """The working calendar, measuring from this instant (rows' time left: see Ruler)."""
        return Ruler(default_calendar(), self.now)

    @cached_property
    def ladder(self) -> Any:
        from app.services.escalation import settings_from_config

        return settings_from_config(current_app.config)

    def gettext(self, string: str, **variables: Any) -> str:
        """flask_babel's ``gettext`` with the translations looked up once."""
        text = self.translations.ugettext(string)
        return text % variables if variables else text

    @cached_property
    def template_gettext(self) -> Any:
        """The templates' ``_`` (Jinja's new-style gettext: the translation marked safe where
        autoescaping is on, the variables escaped into it) with the translations looked up once;
        a page passes it as ``_`` to override the global one."""

        @pass_context
        def gettext(context: Any, string: str, **variables: Any) -> Any:
            text = self.translations.ugettext(string)
            if context.eval_ctx.autoescape:
                text = Markup(text)  # noqa: S704 - our own catalogues, as Jinja marks them
            return text % variables if variables or "%" in text else text

        return gettext

    @cached_property
    def _python_decimals(self) -> bool:
        """Whether the locale writes a decimal as Python's ``{:,}`` does (the UI's zh and en: group
        ``,``, decimal point ``.``, pattern ``#,##0.###``)."""
        try:
            symbols = self.babel_locale.number_symbols["latn"]
            return bool(self.babel_locale.decimal_formats[None].pattern == "#,##0.###"
                        and symbols["decimal"] == "." and symbols["group"] == ",")
        except (AttributeError, KeyError, TypeError):
            return False

    def decimal(self, number: float, format: str | None = None) -> str:  # noqa: A002 - Babel's name
        """flask_babel's ``format_decimal``; a page formats the same few values many times. A
        non-negative value of at most one decimal place in the default pattern (or ``#,##0.#``) is
        written by Python's format, as Babel writes it (checked in a test), 20 µs less each."""
        key = (number, format)
        found = self._decimals.get(key)
        if found is None:
            if (format in (None, "#,##0.#") and isinstance(number, float | int) and 0 <= number < 1e12
                    and round(number, 1) == number and self._python_decimals):
                found = f"{number:,.1f}".removesuffix(".0")
            else:
                found = numbers.format_decimal(number, format=format, locale=self.babel_locale)
            self._decimals[key] = found
        return found

    def fmt_dt(self, value: Any) -> str:
        """A date-time in the user's time zone ("—" when missing)."""
        if value is None or value == "":
            return "—"
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                return value
        if isinstance(value, datetime):
            if value.year >= 1000 and self.timezone is not None:
                # DATETIME_PATTERN as Babel writes it (a naive value is UTC), without its pattern machinery
                local = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(self.timezone)
                return local.strftime(DATETIME_FORMAT)
            return dates.format_datetime(value, DATETIME_PATTERN, tzinfo=self.timezone, locale=self.babel_locale)
        if isinstance(value, date):
            return dates.format_date(value, "yyyy-MM-dd", locale=self.babel_locale)
        return str(value)

    def task_title(self, task: HumanTask) -> str:
        """The task's title in the user's language (the Chinese title when there is no English one),
        naming the department whose work it is about when that is not its own (diagram property ``about``)."""
        title = task.title_en if self.locale == "en" and task.title_en else task.title
        about = (task.context or {}).get("about_department_id")
        return f"{title} · {self.dept_name(about)}" if about else title

    def dept_name(self, department_id: int | None) -> str:
        if department_id is None:
            return "—"
        department = _departments().get(department_id)
        return department.name(self.locale) if department else "—"

    def is_overdue(self, task: HumanTask) -> bool:
        return task.due_at is not None and task.state == "open" and task.due_at < self.now

    def _hours(self, value: float, per_day: float) -> str:
        if value >= per_day:
            return self.gettext("%(days)s working days", days=self.decimal(round(value / per_day, 1)))
        return self.gettext("%(hours)s working hours", hours=self.decimal(max(round(value, 1), 0.1)))

    def time_left_badge(self, task: HumanTask) -> Markup:
        """The time a task has left (or is overdue by) in working time, coloured: on track,
        at risk (inside the reminder window) or overdue; empty without a due time."""
        from app.services.escalation import time_left

        if task.state != "open" or task.due_at is None:
            return Markup("")
        left = time_left(task, self.now, self.ladder, self.calendar)
        if left is None:
            return Markup("")
        if left.overdue:
            text = self.gettext("Overdue by %(time)s", time=self._hours(-left.hours, left.hours_per_day))
            style, state = "danger", "overdue"
        else:
            text = self.gettext("%(time)s left", time=self._hours(left.hours, left.hours_per_day))
            style, state = ("warning", "at-risk") if left.at_risk else ("success", "on-track")
        return self._badge(_TIME_LEFT, style, state, text)

    def urgency_label(self, value: str | None) -> str:
        if not value:
            return "—"
        return self.gettext(URGENCY[value][0]) if value in URGENCY else value

    def urgency_badge(self, value: str | None) -> Markup:
        if not value:
            return Markup('<span class="text-body-secondary">—</span>')
        color = URGENCY.get(value, ("", "light"))[1]
        return self._badge(_URGENCY, color, self.urgency_label(value))

    def clock_state_label(self, state: str | None) -> str:
        if not state:
            return "—"
        return self.gettext(CLOCK_STATES[state][0]) if state in CLOCK_STATES else state

    def clock_name(self, clock: str | None) -> str:
        return self.gettext(CLOCKS[clock]) if clock in CLOCKS else ""

    def working_time(self, hours: float | None) -> str:
        """A span of working time for people: minutes, hours or working days."""
        if hours is None:
            return "—"
        hours = abs(hours)
        if hours < 1:
            return self.gettext("%(n)d working minutes", n=round(hours * 60))
        day = self.calendar.hours_per_day
        if hours < day:
            return self.gettext("%(n)s working hours", n=self.decimal(round(hours, 1), "#,##0.#"))
        return self.gettext("%(n)s working days", n=self.decimal(round(hours / day, 1), "#,##0.#"))

    def clock_left(self, view: Any) -> str:
        """"3 working hours left" / "1.5 working days over" for a running clock, else ""."""
        if view is None or view.hours_left is None or view.state not in ("on_track", "at_risk", "breached", "paused"):
            return ""
        if view.hours_left < 0 or view.state == "breached":
            return self.gettext("%(time)s over", time=self.working_time(view.hours_left))
        return self.gettext("%(time)s left", time=self.working_time(view.hours_left))

    def clock_badge(self, view: Any, with_left: bool = True) -> Markup:
        """The state of a case's customer clock as a badge, with the working time left (lists)."""
        if view is None or not view.state:
            return Markup('<span class="text-body-secondary">—</span>')
        color = CLOCK_STATES.get(view.state, ("", "secondary"))[1]
        badge = self._badge(_CLOCK_STATE, color, view.state, self.clock_name(view.clock),
                            self.clock_state_label(view.state))
        left = self.clock_left(view) if with_left else ""
        if left:
            badge += self._badge(_CLOCK_LEFT, left)
        return badge


def task_title(task: HumanTask) -> str:
    return Formatter().task_title(task)


def process_title(definition: ProcessDefinition | None) -> str:
    """A deployed process's name in the user's language (the diagram's ``nameEn`` in English)."""
    return process_name(definition, locale()) if definition is not None else "—"


def fmt_dt(value: Any) -> str:
    return Formatter().fmt_dt(value)


def is_overdue(task: HumanTask) -> bool:
    return Formatter().is_overdue(task)


def time_left_badge(task: HumanTask) -> Markup:
    return Formatter().time_left_badge(task)


def _departments() -> dict:
    if "web_departments" not in g:
        g.web_departments = departments_by_id(db.session)
    return g.web_departments


def dept_name(department_id: int | None) -> str:
    return Formatter().dept_name(department_id)


#: lanes that name a role rather than a department (see the diagrams' lane documentation)
ROLE_LANES = {"responsible": N_("Responsible department"), "management": N_("Management")}
_LANE_RE = re.compile(r'(<(?:bpmn:)?lane\b[^>]*\bname=")([^"]*)(")')


def readable_lanes(xml: str) -> str:
    """A diagram for viewing: lanes named by a department code (``quality``) or a role show
    the department's or role's name in the user's language (the stored diagram is unchanged)."""
    names = {dept.code.lower(): dept.name(locale()) for dept in _departments().values()}

    def label(match: re.Match[str]) -> str:
        code = match.group(2).strip().lower()
        text = names.get(code) or (_(ROLE_LANES[code]) if code in ROLE_LANES else match.group(2))
        return match.group(1) + str(escape(text)) + match.group(3)

    return _LANE_RE.sub(label, xml)


def remember_user_names(names: dict[int, str], asked: set[int]) -> None:
    """Names a page has looked up for ``asked`` (those not found: "?"), so that :func:`user_name`
    does not ask again one by one."""
    cache = g.setdefault("web_user_names", {})
    cache.update(names)
    for user_id in asked - cache.keys():
        cache[user_id] = "?"


def user_name(user_id: int | None) -> str:
    if user_id is None:
        return ""
    cache = g.setdefault("web_user_names", {})
    if user_id not in cache:
        cache.update(user_names(db.session, {user_id}))
        cache.setdefault(user_id, "?")
    return cache[user_id]


def urgency_label(value: str | None) -> str:
    return Formatter().urgency_label(value)


def urgency_badge(value: str | None) -> Markup:
    return Formatter().urgency_badge(value)


def status_label(value: str | None) -> str:
    if not value:
        return "—"
    return _(STATUS[value][0]) if value in STATUS else value


def status_badge(value: str | None) -> Markup:
    color = STATUS.get(value or "", ("", "secondary"))[1]
    return Markup('<span class="badge text-bg-{}" data-testid="status">{}</span>').format(color, status_label(value))


def feedback_type_label(value: str | None) -> str:
    if not value:
        return "—"
    return _(FEEDBACK_TYPES[value]) if value in FEEDBACK_TYPES else value


#: the intake form every case starts from: its choices name the case's classification
INTAKE_FORM = "case_intake"


def intake_choices(field: str) -> dict[str, str]:
    """A choice field of the intake form (``category``, ``channel``…) as value → label in the
    user's language, so lists and filters say what the form says; {} without that field."""
    cache = g.setdefault("intake_choices", {})
    if field not in cache:
        if "intake_fields" not in g:  # the form read once per request, not once per field
            try:
                g.intake_fields = definition_by_key(db.session, INTAKE_FORM)["fields"]
            except AppError:
                g.intake_fields = []
        spec: dict[str, Any] = next((f for f in g.intake_fields if f["name"] == field), {})
        cache[field] = {str(c["value"]): localized(c.get("label"), locale()) or str(c["value"])
                        for c in spec.get("choices") or [] if isinstance(c, dict) and "value" in c}
    return cache[field]


# ---------------------------------------------------------------------------- form data


def _choice_map(spec: dict[str, Any], loc: str) -> dict[str, str]:
    ftype = spec["type"]
    if ftype == "user":
        return dict(DatabaseChoices(db.session).user_choices())
    if ftype == "department":
        return dict(DatabaseChoices(db.session).department_choices(loc))
    return {c["value"]: localized(c.get("label", c["value"]), loc) for c in spec.get("choices", [])}


def _file_label(item: Any) -> str:
    if isinstance(item, dict):
        size = item.get("size")
        return f"{item.get('name') or item.get('id')}" + (f" ({_size(size)})" if isinstance(size, int) else "")
    return str(item)


def _size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / 1024 / 1024:.1f} MB"
    if size >= 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size} B"


#: texts the application writes into task data by itself (the approvals screen's reason when the
#: approver gives none), shown in the reader's language whatever language they were written in
AUTOMATIC_TEXTS = (N_("Approved"),)


def automatic_text(value: str) -> str:
    """``value`` in the user's language when it is one of :data:`AUTOMATIC_TEXTS` (in any of
    the UI languages), else unchanged."""
    if "automatic_texts" not in g:
        known = {}
        for msgid in AUTOMATIC_TEXTS:
            known[msgid] = msgid
            for code in LANGUAGES:
                with force_locale(code):
                    known[_(msgid)] = msgid
        g.automatic_texts = known
    msgid = g.automatic_texts.get(value.strip())
    return _(msgid) if msgid else value


def display_value(spec: dict[str, Any], value: Any, loc: str | None = None) -> str:
    """One submitted value as text for people (choice labels, Yes/No, money with 2 places…)."""
    loc = loc or locale()
    ftype = spec["type"]
    if value is None or value == "" or value == []:
        return "—"
    if ftype == "boolean":
        return _("Yes") if value is True or str(value).lower() in ("true", "y", "yes", "1") else _("No")
    if ftype in ("select", "radio", "multiselect", "user", "department"):
        choices = _choice_map(spec, loc)
        items = value if isinstance(value, list) else [value]
        return "、".join(choices.get(str(v), str(v)) for v in items)
    if ftype == "money":
        try:
            return format_decimal(Decimal(str(value)), format="#,##0.00")
        except (InvalidOperation, ValueError):
            return str(value)
    if ftype == "datetime":
        return fmt_dt(value)
    if ftype in ("file", "files"):
        items = value if isinstance(value, list) else [value]
        return "、".join(_file_label(v) for v in items)
    return automatic_text(str(value))


def readable(definition: dict[str, Any] | None, data: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Submitted data as ``[{"label", "value"} | {"label", "rows": [[(label, value), …], …]}]``.

    Fields of the definition come first in its order; other keys are left out (engine data).
    """
    if not definition or not isinstance(data, dict):
        return []
    loc = locale()
    items: list[dict[str, Any]] = []
    for spec in definition.get("fields", []):
        if spec["name"] not in data:
            continue
        value = data[spec["name"]]
        label = localized(spec.get("label"), loc)
        if spec["type"] == "group":
            rows = []
            for row in value if isinstance(value, list) else []:
                if isinstance(row, dict):
                    rows.append([(localized(sub.get("label"), loc), display_value(sub, row.get(sub["name"]), loc))
                                 for sub in spec["fields"]])
            items.append({"label": label, "rows": rows})
        else:
            items.append({"label": label, "value": display_value(spec, value, loc)})
    return items


# ---------------------------------------------------------------------------- the customer's clock


def clock_state_label(state: str | None) -> str:
    return Formatter().clock_state_label(state)


def clock_name(clock: str | None) -> str:
    return Formatter().clock_name(clock)


def working_time(hours: float | None) -> str:
    return Formatter().working_time(hours)


def clock_left(view: Any) -> str:
    return Formatter().clock_left(view)


def clock_badge(view: Any, with_left: bool = True) -> Markup:
    return Formatter().clock_badge(view, with_left)


def form_title(definition: dict[str, Any] | None) -> str:
    """A form's title in the user's language."""
    return localized((definition or {}).get("title"), locale())


def incident_text(message: str | None) -> str:
    """An instance's incident message in the user's language (known engine messages)."""
    return translate_incident(message, _)


def register_template_globals(app: Flask) -> None:
    """Make the display helpers available to every template."""
    app.jinja_env.globals.update(
        task_title=task_title, process_title=process_title, fmt_dt=fmt_dt, is_overdue=is_overdue, dept_name=dept_name,
        user_name=user_name, urgency_badge=urgency_badge, urgency_label=urgency_label,
        status_badge=status_badge, status_label=status_label, feedback_type_label=feedback_type_label,
        ui_locale=locale, clock_badge=clock_badge, clock_left=clock_left, clock_name=clock_name,
        clock_state_label=clock_state_label, working_time=working_time,
        readable=readable, form_title=form_title, automatic_text=automatic_text, time_left_badge=time_left_badge,
        incident_text=incident_text, task_buttons=task_buttons,
    )
