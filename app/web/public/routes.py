"""Customer-facing pages, no login: the feedback form, the status page (with the reply to an
information request) and the satisfaction survey. The case's ``public_token`` in the URL is
the only key; nothing internal is shown."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm

from app.data.models import Case
from app.engine.errors import NotFound
from app.errors import AppError
from app.extensions import db, runtime
from app.formkit.build import (
    Validation,
    check_files,
    form_class,
    form_data,
    upload_error,
    uploads_by_field,
    uploads_of,
    with_files,
)
from app.i18n import N_
from app.services import attachments, ratelimit
from app.services import public as svc
from app.services.cases import case_by_token, open_case
from app.services.choices import DatabaseChoices
from app.services.errors import AlreadyAnswered, NotWaiting, TooManyRequests
from app.services.forms import definition_by_key
from app.web.errors import rollback
from app.web.files.routes import bp as files_bp
from app.web.public.forms import MAX_REPLY_FILES, HoneypotMixin, ReplyForm, SurveyForm
from app.web.shared.display import locale
from app.web.shared.limits import too_many_response
from app.web.shared.uploads import file_limit, keep_received, received_uploads, received_used, too_large

bp = Blueprint("public", __name__)
bp.register_blueprint(files_bp)  # /files/<id> (signed-in staff), endpoint "public.files.download"

INTAKE_FORM = "case_intake"
#: the reply's file field under the rules of every upload (app/formkit/uploads.py)
REPLY_FILES = {"name": "files", "type": "files", "max_files": MAX_REPLY_FILES}
LANGUAGES = ("zh", "en")


# ---------------------------------------------------------------------------- language


def _browser_language_selector(original):
    """On the public pages, without a chosen language (user setting or the switch in the
    layout), follow the browser's Accept-Language; Chinese when it names neither."""

    def select() -> str | None:
        if (request and (request.blueprint or "").split(".")[0] == "public"
                and not getattr(current_user, "is_authenticated", False)
                and session.get("locale") not in LANGUAGES):
            return request.accept_languages.best_match(LANGUAGES, default="zh")
        return original() if original else None

    return select


@bp.record_once
def _install_language(state: Any) -> None:
    babel = state.app.extensions["babel"]
    babel.locale_selector = _browser_language_selector(babel.locale_selector)


# ---------------------------------------------------------------------------- helpers


def _client_ip() -> str:
    return (request.remote_addr or "unknown")[:64]


def _max_file_bytes() -> int:
    return file_limit()


def _store(upload: Any) -> dict[str, Any]:
    """Store a checked upload (its type is what its content is, never what the browser said)."""
    return attachments.store(current_app.config["UPLOAD_DIR"], upload, _max_file_bytes())


def _page(template: str, status: int = 200, **context: Any):
    return render_template(f"public/{template}", **context), status


def _message(title: str, message: str, status: int, testid: str = "public-message"):
    return _page("message.html", status, title=title, message=message, testid=testid)


def _not_found():
    return _message(_("Not found"), _("We could not find this case. Please check the link you received."), 404,
                    "not-found")


MISSED_LINK_BUCKET = "public_link_miss"
TOKEN_MISS_WINDOW = timedelta(hours=1)


def _case_or_none(token: str) -> Case | None:
    """The case of a public link; wrong links are counted per address, and beyond
    PUBLIC_TOKEN_MISS_LIMIT an hour the address may try no more (429), so links cannot be guessed."""
    client = _client_ip()
    limit = int(current_app.config.get("PUBLIC_TOKEN_MISS_LIMIT", 20))
    if ratelimit.hits(db.session, MISSED_LINK_BUCKET, client, TOKEN_MISS_WINDOW) >= limit:
        raise TooManyRequests(N_("Too many requests. Please wait a moment and try again."),
                              retry_after=ratelimit.retry_after(db.session, MISSED_LINK_BUCKET, client,
                                                                TOKEN_MISS_WINDOW))
    case = case_by_token(db.session, token) if token and len(token) <= 64 else None
    if case is None:
        ratelimit.record_hit(db.session, MISSED_LINK_BUCKET, client, TOKEN_MISS_WINDOW)
        db.session.commit()
    return case


def _too_many():
    limit = current_app.config["PUBLIC_FORM_RATE_LIMIT"]
    return _message(
        _("Too many submissions"),
        _("You have sent %(n)d submissions within the last hour. Please wait a while before sending more, "
          "or call us.", n=limit),
        429, "rate-limited",
    )


@bp.errorhandler(AppError)
def _refused(exc: AppError):
    """Customers get this site's own pages, never the staff ones of ``app/web/errors.py`` (which
    redirect to the inbox); the views answer the refusals they expect themselves."""
    rollback()
    if isinstance(exc, NotFound):
        return _not_found()
    if isinstance(exc, TooManyRequests):
        return too_many_response(int(str(exc.details.get("retry_after", 60))))
    current_app.logger.warning("public request refused: %s", exc)
    return _message(_("Not available"), _("Your request could not be completed. Please try again later."), 409)


# ---------------------------------------------------------------------------- feedback form


def _feedback_form(definition: dict[str, Any]) -> FlaskForm:
    loc = locale()
    cls = form_class(definition, loc, DatabaseChoices(db.session), base=FlaskForm)
    cls = type("PublicFeedbackForm", (HoneypotMixin, cls), {})
    meta = {"locales": [loc]}
    if request.method == "POST":
        return cls(meta=meta)
    defaults = {spec["name"]: spec["default"] for spec in definition["fields"] if "default" in spec}
    return cls(formdata=None, data=defaults, meta=meta)


def _needs_contact(form: FlaskForm, definition: dict[str, Any]) -> bool:
    """A customer must leave a phone number or an e-mail address; True when one is missing."""
    names = {spec["name"] for spec in definition["fields"]}
    if not {"customer_contact", "customer_email"} <= names:
        return False
    if (form["customer_contact"].data or "").strip() or (form["customer_email"].data or "").strip():
        return False
    form["customer_contact"].errors = [
        *form["customer_contact"].errors,
        _("Please give a phone number or an e-mail address so that we can reach you."),
    ]
    return True


@bp.route("/feedback", methods=["GET", "POST"])
def feedback():
    try:
        definition = svc.public_definition(definition_by_key(db.session, INTAKE_FORM))
    except NotFound:
        return _message(_("Not available"), _("The feedback form is not available at the moment."), 503)
    form = _feedback_form(definition)
    got = received_uploads()
    context = {"title": _("Send us your feedback"), "form": form, "definition": definition,
               "accept": svc.ACCEPT_ATTRIBUTE, "upload_token": got.token}
    if request.method != "POST":
        return _page("feedback.html", **context)

    limit = current_app.config["PUBLIC_FORM_RATE_LIMIT"]
    ip = _client_ip()
    if svc.over_limit(db.session, ip, limit):
        return _too_many()
    if (request.form.get("website") or "").strip():
        return _message(_("Not accepted"), _("Your submission could not be accepted."), 400)
    refused = too_large()
    valid = form.validate_on_submit()
    valid = check_files(form, definition, locale(), received=got.files, max_bytes=_max_file_bytes()) and valid
    valid = not _needs_contact(form, definition) and valid and not refused
    if not valid:
        db.session.rollback()
        got = keep_received(got, form, definition, locale())
        return _page("feedback.html", 422, invalid=True, too_large=refused, received=got.rows,
                     **{**context, "upload_token": got.token})

    if not svc.reserve_submission(db.session, ip, limit):
        db.session.rollback()
        return _too_many()
    try:
        data = with_files(definition, Validation(form_data(form, definition), {}, form,
                                                 uploads_by_field(form, definition)),
                          _store, received=got.files)
        intake = svc.intake_from_public(data, locale())
        case = open_case(db.session, runtime(), intake, svc.CUSTOMER)
        received_used(got)
        db.session.commit()
    except AppError:
        db.session.rollback()
        current_app.logger.exception("public feedback could not be opened")
        return _message(_("Not saved"), _("Your feedback could not be saved. Please try again later."), 503)
    return redirect(url_for("public.received", token=case.public_token), 303)


@bp.route("/feedback/received/<token>")
def received(token: str):
    case = _case_or_none(token)
    if case is None:
        return _not_found()
    return _page("received.html", title=_("Thank you"), case=case,
                 status_url=url_for("public.status", token=case.public_token, _external=True))


# ---------------------------------------------------------------------------- status and reply


def _status_page(case: Case, reply_form: ReplyForm | None = None, status: int = 200, **extra: Any):
    state = svc.public_status(db.session, case)
    waiting = state == "waiting"
    if waiting and reply_form is None:
        reply_form = ReplyForm(formdata=None, data={"submit_token": secrets.token_urlsafe(16)})
    survey = svc.survey_for(db.session, case)
    conversation = svc.conversation(db.session, case)
    answers = [item["at"] for item in conversation if item["kind"] == "answer"]
    return _page(
        "status.html", status, title=case.number, case=case, state=state,
        answered_at=answers[-1] if answers and state in ("answered", "closed") else None,
        closed_at=case.closed_at if state in ("closed", "unresolvable") else None,
        state_label=_(svc.PUBLIC_STATUSES[state]), state_help=_(svc.PUBLIC_STATUS_HELP[state]),
        conversation=conversation, reply_form=reply_form if waiting else None,
        survey_open=svc.survey_available(db.session, case), survey=survey,
        survey_label=_(svc.SURVEY_LABELS[survey.score]) if survey else None, accept=svc.ACCEPT_ATTRIBUTE,
        **extra,
    )


@bp.route("/status/<token>", methods=["GET", "POST"])
def status(token: str):
    case = _case_or_none(token)
    if case is None:
        return _not_found()
    if request.method != "POST":
        return _status_page(case)
    form = ReplyForm()
    valid = form.validate_on_submit()
    files = uploads_of(form.files)
    if len(files) > MAX_REPLY_FILES:
        form.files.errors = [*form.files.errors, _("At most %(n)d files.", n=MAX_REPLY_FILES)]
        valid = False
    problems = [upload_error(f, REPLY_FILES, locale(), _max_file_bytes()) for f in files]
    form.files.errors = [*form.files.errors, *(p for p in problems if p)]
    if not valid or any(problems):
        db.session.rollback()
        return _status_page(case, form, 422, invalid=True)
    try:
        stored = [_store(f) for f in files]
        svc.submit_reply(db.session, runtime(), case, form.reply_text.data.strip(), stored,
                         form.submit_token.data or None)
        db.session.commit()
    except NotWaiting as exc:
        db.session.rollback()
        return _status_page(case, status=409, notice=_(exc.message))
    except AppError as exc:
        db.session.rollback()
        current_app.logger.warning("customer reply on %s failed: %s", case.number, exc)
        return _status_page(case, form, 409, notice=_("Your answer could not be saved. Please try again."))
    return redirect(url_for("public.status", token=case.public_token, sent=1), 303)


# ---------------------------------------------------------------------------- survey


@bp.route("/survey/<token>", methods=["GET", "POST"])
def survey(token: str):
    case = _case_or_none(token)
    if case is None:
        return _not_found()
    context = {"title": _("Satisfaction survey"), "case": case}
    existing = svc.survey_for(db.session, case)
    if existing is not None:
        return _page("survey.html", answered=existing, answered_label=_(svc.SURVEY_LABELS[existing.score]),
                     already=request.method == "POST", **context)
    if not svc.survey_available(db.session, case):
        return _page("survey.html", 409 if request.method == "POST" else 200, not_open=True, **context)
    form = SurveyForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            db.session.rollback()
            return _page("survey.html", 422, form=form, invalid=True, **context)
        try:
            answer = svc.answer_survey(db.session, case, int(form.score.data), form.comment.data)
            db.session.commit()
        except AlreadyAnswered:
            db.session.rollback()
            earlier = svc.survey_for(db.session, case)
            if earlier is None:  # the answer that beat this one was rolled back: ask again
                return redirect(request.url)
            return _page("survey.html", answered=earlier, answered_label=_(svc.SURVEY_LABELS[earlier.score]),
                         already=True, **context)
        return _page("survey.html", answered=answer, answered_label=_(svc.SURVEY_LABELS[answer.score]),
                     thanks=True, **context)
    return _page("survey.html", form=form, **context)
