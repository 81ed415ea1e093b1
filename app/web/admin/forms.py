"""The user form of the administration pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, RadioField, SelectField, SelectMultipleField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, Regexp
from wtforms.widgets import CheckboxInput, ListWidget

ROLE_LABELS = {
    "quality_engineer": _l("Quality engineer"),
    "manager": _l("Manager"),
    "designer": _l("Process designer"),
    "auditor": _l("Auditor"),
    "admin": _l("Administrator"),
}


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class UserForm(FlaskForm):
    username = StringField(_l("Username"), validators=[
        DataRequired(), Length(max=80),
        Regexp(r"^[A-Za-z0-9_.@-]+$", message=_l("Use letters, digits and _ . @ - only.")),
    ])
    display_name = StringField(_l("Display name"), validators=[DataRequired(), Length(max=120)])
    email = StringField(_l("E-mail"), validators=[
        Optional(), Length(max=200),
        Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message=_l("Enter a valid e-mail address.")),
    ])
    locale = SelectField(_l("Language"), choices=[SelectChoice("zh", "中文"), SelectChoice("en", "English")],
                         default="zh")
    active = BooleanField(_l("Active"), default=True)
    password = PasswordField(_l("Password"), validators=[Optional(), Length(min=4, max=200)])
    roles = MultiCheckboxField(_l("Roles"), choices=[])


def user_form(roles: tuple[str, ...], **kwargs) -> UserForm:
    form = UserForm(**kwargs)
    form.roles.choices = [SelectChoice(role, str(ROLE_LABELS.get(role, role))) for role in roles]
    return form


class SettingsForm(FlaskForm):
    """Run-time settings: the basis of the weekly assessment's logistics split."""

    logistics_basis = RadioField(_l("Logistics split basis"), choices=[
        SelectChoice("total_cost", _l("Tiers on the case's total cost, then shared (default)")),
        SelectChoice("per_share", _l("Tiers on each department's share")),
    ], validators=[DataRequired()])
    monthly_report = BooleanField(_l("E-mail the management report every month"))
