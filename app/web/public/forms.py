"""Forms of the public pages (the feedback form itself is built from ``case_intake``)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, MultipleFileField, RadioField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from app.services.public import SURVEY_LEVELS

MAX_REPLY_FILES = 10


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


class HoneypotMixin:
    """A field people never see (hidden with CSS); bots that fill every input give themselves away."""

    website = StringField(_l("Leave this field empty"), validators=[Optional()])


class ReplyForm(FlaskForm):
    reply_text = TextAreaField(
        _l("Your answer"),
        validators=[DataRequired(_l("Please write your answer.")), Length(max=5000)],
        filters=[_strip],
    )
    files = MultipleFileField(_l("Files (photos, PDF, Office documents)"), validators=[Optional()])
    submit_token = HiddenField()


class SurveyForm(FlaskForm):
    score = RadioField(
        _l("How satisfied are you with how we handled your feedback?"),
        choices=[SelectChoice(str(score), _l(label)) for score, label in SURVEY_LEVELS],
        validators=[InputRequired(_l("Please choose one answer."))],
    )
    comment = TextAreaField(_l("Comment (optional)"), validators=[Optional(), Length(max=2000)])
