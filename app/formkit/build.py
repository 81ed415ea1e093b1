"""Turn a form definition into a WTForms class, an API schema, and validated task data.

The same definition drives the HTML form, the JSON schema the API publishes and the
server-side validation of both (:func:`validate`: field rules, file rules and the structure
of JSON data), so the two channels can never disagree.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol

from werkzeug.datastructures import CombinedMultiDict, MultiDict
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    DecimalField,
    FieldList,
    FileField,
    Form,
    FormField,
    IntegerField,
    MultipleFileField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.utils import unset_value
from wtforms.validators import InputRequired, Length, NumberRange, Optional, Regexp, StopValidation, ValidationError

from app.clock import local_now
from app.formkit.definition import CHOICE_TYPES, conditions, localized
from app.formkit.uploads import DEFAULT_MAX_FILE_BYTES, file_problem

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
DEFAULT_TEXT_MAX = 2000
DEFAULT_TEXTAREA_MAX = 20000
FILE_TYPES = {"file", "files"}


class ChoiceSource(Protocol):
    """Where people and department pickers get their options."""

    def user_choices(self) -> list[tuple[str, str]]: ...

    def department_choices(self, locale: str) -> list[tuple[str, str]]: ...


@dataclass
class StaticChoices:
    """A ChoiceSource from fixed lists (tests, previews)."""

    users: list[tuple[str, str]] = field(default_factory=list)
    departments: list[tuple[str, str]] = field(default_factory=list)

    def user_choices(self) -> list[tuple[str, str]]:
        return self.users

    def department_choices(self, locale: str) -> list[tuple[str, str]]:
        return self.departments


class _RowForm(Form):
    """Sub-form of a repeating group; CSRF lives on the outer form only."""


class GroupField(FieldList):
    """A repeating group: blank rows are ignored, and rows beyond the maximum are an error
    rather than silently dropped (WTForms' FieldList truncates them)."""

    submitted_rows = 0

    def process(self, formdata, data=unset_value, extra_filters=None):
        self.submitted_rows = len(set(self._extract_indices(self.name, formdata))) if formdata else 0
        super().process(formdata, data, extra_filters)

    def validate(self, form, extra_validators=()):
        self.errors: list[Any] = []
        for entry in self.entries:
            if not _row_is_blank(entry):
                entry.validate(form)
        chain = itertools.chain(self.validators, extra_validators)
        self._run_validation_chain(form, chain)
        return not self.errors and not any(e.errors for e in self.entries if not _row_is_blank(e))


def _messages(locale: str) -> dict[str, str]:
    zh = locale != "en"
    return {
        "required": "此项为必填项。" if zh else "This field is required.",
        "email": "请输入有效的电子邮件地址。" if zh else "Enter a valid e-mail address.",
        "rows_min": "至少需要 %(n)d 行。" if zh else "At least %(n)d rows are needed.",
        "rows_max": "最多允许 %(n)d 行。" if zh else "At most %(n)d rows are allowed.",
        "files_max": "最多上传 %(n)d 个文件。" if zh else "At most %(n)d files.",
        "file_required": "请选择文件。" if zh else "Please choose a file.",
        "file_type": "“%(name)s”不是可接受的文件。请上传照片(JPEG、PNG、WebP、GIF)、PDF 或 Office 文档。" if zh else
        "“%(name)s” is not an accepted file. Please send photos (JPEG, PNG, WebP, GIF), PDF or Office documents.",
        "file_size": "“%(name)s”超过了每个文件 %(mb)s MB 的上限，未接收。" if zh else
        "“%(name)s” is larger than %(mb)s MB per file and was not received.",
        "file_kind": "“%(name)s”不是此处可接受的文件（可接受：%(types)s）。" if zh else
        "“%(name)s” is not accepted here (accepted: %(types)s).",
        "unknown": "未知字段。" if zh else "Unknown field.",
        "not_object": "数据必须是 JSON 对象。" if zh else "The data must be a JSON object.",
        "single": "此处应为单个值。" if zh else "A single value is expected here.",
        "objects": "此处应为对象列表。" if zh else "A list of objects is expected here.",
        "values": "此处应为值列表。" if zh else "A list of values is expected here.",
        "sum": "合计须等于 %(total)s(当前为 %(sum)s)。" if zh else "The total must be %(total)s (it is %(sum)s).",
        "sum_hint": "合计须等于 %(total)s。" if zh else "The total must be %(total)s.",
        "sum_missing": "缺少应核对的合计,请联系流程设计人员。" if zh else
                       "The total to check against is missing; please tell the process designer.",
        "choose": "请选择…" if zh else "Please choose…",
        "date": "日期无效，请按 年-月-日 填写一个存在的日期。" if zh else
                "Not a valid date: enter a real date as year-month-day.",
        "datetime": "日期时间无效，请填写一个存在的日期和时间。" if zh else "Not a valid date and time.",
        "future": "此处记录已发生的事，不能晚于现在。" if zh else
                  "This records what has happened; it cannot be in the future.",
        "too_large": "数字过大。" if zh else "The number is too large.",
    }


def _values(data: Any) -> set[str]:
    """A field's value as the strings a ``required_if`` condition compares ("" when empty)."""
    if data is None or data is False or data == "" or data == []:
        return {""}
    if isinstance(data, list | tuple | set):
        return {str(v) for v in data}
    return {"true"} if data is True else {str(data)}


def condition_holds(form: Any, spec: dict[str, Any]) -> bool:
    """Whether any ``required_if`` condition of ``spec`` holds for the other fields' values."""
    for condition in conditions(spec):
        values = _values(form[condition["field"]].data)
        if "in" in condition and values & set(condition["in"]):
            return True
        if "not_in" in condition and not values & set(condition["not_in"]):
            return True
    return False


class RequiredIf:
    """Required while a ``required_if`` condition holds; otherwise the field stays optional."""

    def __init__(self, spec: dict[str, Any], message: str) -> None:
        self.spec = spec
        self.message = message

    def __call__(self, form: Any, field: Any) -> None:
        if condition_holds(form, self.spec) and _values(field.data) == {""}:
            raise StopValidation(self.message)


def _choices(spec: dict[str, Any], locale: str, source: ChoiceSource) -> list[tuple[str, str]]:
    ftype = spec["type"]
    if ftype == "user":
        return list(source.user_choices())
    if ftype == "department":
        return list(source.department_choices(locale))
    return [(c["value"], localized(c.get("label", c["value"]), locale)) for c in spec["choices"]]


@dataclass
class _FieldParts:
    """What every field type is built from: the spec, its label, validators and keyword args."""

    spec: dict[str, Any]
    locale: str
    source: ChoiceSource
    msg: dict[str, str]
    label: str
    required: bool
    validators: list[Any]
    kwargs: dict[str, Any]


def _field(spec: dict[str, Any], locale: str, source: ChoiceSource) -> Any:
    """The WTForms field of one field definition."""
    msg = _messages(locale)
    required = bool(spec.get("required"))
    validators: list[Any] = [InputRequired(msg["required"])] if required else [Optional()]
    if conditions(spec) and not required:
        validators.insert(0, RequiredIf(spec, msg["required"]))
    kwargs: dict[str, Any] = {"description": localized(spec.get("help"), locale)}
    render_kw: dict[str, Any] = {}
    if spec.get("placeholder"):
        render_kw["placeholder"] = localized(spec["placeholder"], locale)
    if spec.get("readonly"):
        render_kw["readonly"] = True
    if render_kw:
        kwargs["render_kw"] = render_kw
    build = _BUILDERS.get(spec["type"])
    if build is None:
        raise ValueError(f"unsupported field type {spec['type']}")
    return build(_FieldParts(spec, locale, source, msg, localized(spec.get("label"), locale), required,
                             validators, kwargs))


def _text_field(p: _FieldParts) -> Any:
    ftype = p.spec["type"]
    limit = p.spec.get("max_length") or (DEFAULT_TEXTAREA_MAX if ftype == "textarea" else DEFAULT_TEXT_MAX)
    p.validators.append(Length(min=p.spec.get("min_length", -1), max=limit))
    if ftype == "email":
        p.validators.append(Regexp(EMAIL_RE, message=p.msg["email"]))
    cls = TextAreaField if ftype == "textarea" else StringField
    return cls(p.label, validators=p.validators, **p.kwargs)


def _bounds(p: _FieldParts, minimum: Any = None) -> None:
    bounds = {k: p.spec[k] for k in ("min", "max") if k in p.spec}
    if minimum is not None:
        bounds.setdefault("min", minimum)
    if bounds:
        p.validators.append(NumberRange(**bounds))


#: no form value is larger; beyond it a number is a typing error (and no longer a float)
MAX_MAGNITUDE = 10**15


def _magnitude(message: str) -> Callable[[Any, Any], None]:
    def check(_form: Any, field: Any) -> None:
        if field.data is not None and abs(field.data) > MAX_MAGNITUDE:
            raise StopValidation(message)
    return check


def _integer_field(p: _FieldParts) -> Any:
    p.validators.append(_magnitude(p.msg["too_large"]))
    _bounds(p)
    return IntegerField(p.label, validators=p.validators, **p.kwargs)


def _number_field(p: _FieldParts) -> Any:
    money = p.spec["type"] == "money"
    p.validators.append(_magnitude(p.msg["too_large"]))
    _bounds(p, 0 if money else None)
    return DecimalField(p.label, validators=p.validators, places=2 if money else None, **p.kwargs)


class _InvalidSaysSo:
    """A date field whose unreadable input is reported as invalid in the user's language
    (the browser's date picker sends nothing for an impossible date: the page's script
    reports that case before sending, with the same message)."""

    def __init__(self, *args: Any, invalid_message: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.invalid_message = invalid_message

    def process_formdata(self, valuelist: list[Any]) -> None:
        try:
            super().process_formdata(valuelist)  # type: ignore[misc]
        except ValueError as exc:
            raise ValueError(self.invalid_message) from exc


class _DateField(_InvalidSaysSo, DateField):
    pass


class _DateTimeField(_InvalidSaysSo, DateTimeLocalField):
    pass


class NotFuture:
    """``"not_future": true``: a date (or date-time) that records the past is not after now."""

    def __init__(self, message: str) -> None:
        self.message = message

    def __call__(self, form: Any, field: Any) -> None:
        value = field.data
        if value is None:
            return
        now = local_now()
        if isinstance(value, datetime):
            late = (value.replace(tzinfo=now.tzinfo) if value.tzinfo is None else value) > now
        else:
            late = value > now.date()
        if late:
            raise ValidationError(self.message)


def _date_kwargs(p: _FieldParts, kind: str) -> dict[str, Any]:
    if p.spec.get("not_future"):
        p.validators.append(NotFuture(p.msg["future"]))
    render_kw = {**p.kwargs.get("render_kw", {}), "data-invalid-message": p.msg[kind]}
    if p.spec.get("not_future"):
        today = local_now()
        render_kw["max"] = today.strftime("%Y-%m-%d") if kind == "date" else today.strftime("%Y-%m-%dT%H:%M")
    return {**p.kwargs, "render_kw": render_kw}


def _date_field(p: _FieldParts) -> Any:
    return _DateField(p.label, validators=p.validators, invalid_message=p.msg["date"], **_date_kwargs(p, "date"))


def _datetime_field(p: _FieldParts) -> Any:
    formats = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
    return _DateTimeField(p.label, validators=p.validators, format=formats, invalid_message=p.msg["datetime"],
                          **_date_kwargs(p, "datetime"))


def _boolean_field(p: _FieldParts) -> Any:
    return BooleanField(p.label, validators=[Optional()], **p.kwargs)


def _choice_field(p: _FieldParts) -> Any:
    ftype = p.spec["type"]
    choices = [SelectChoice(value, text) for value, text in _choices(p.spec, p.locale, p.source)]
    if ftype == "multiselect":
        return SelectMultipleField(p.label, choices=choices, validators=p.validators, **p.kwargs)
    if ftype == "radio":
        return RadioField(p.label, choices=choices, validators=p.validators, **p.kwargs)
    # A required select starts on an empty "please choose" option too: the first real choice
    # must never be taken silently because nobody looked at the field.
    blank = localized(p.spec.get("placeholder"), p.locale) or ("—" if not p.required else p.msg["choose"])
    return SelectField(p.label, choices=[SelectChoice("", blank), *choices], validators=p.validators, **p.kwargs)


def _file_field(p: _FieldParts) -> Any:
    cls = FileField if p.spec["type"] == "file" else MultipleFileField
    return cls(p.label, validators=[Optional()], **p.kwargs)


def _group_field(p: _FieldParts) -> Any:
    spec, msg = p.spec, p.msg
    row_cls = type("Row_" + spec["name"], (_RowForm,), {
        sub["name"]: _field(sub, p.locale, p.source) for sub in spec["fields"]
    })
    min_rows, max_rows = spec.get("min_rows", 0), spec.get("max_rows", 50)
    rule = spec.get("sum_equals") or {}
    bound = "value" in rule  # bound to a task's data (see bind_data); unbound: a preview, no check
    expected = _decimal(rule.get("value"))
    if bound and expected is not None:
        hint = msg["sum_hint"] % {"total": f"{expected:.2f}"}
        p.kwargs["description"] = f"{p.kwargs['description']} {hint}".strip()

    def check_rows(form: Any, fld: Any) -> None:
        rows = [e for e in fld.entries if not _row_is_blank(e)]
        if len(rows) < min_rows:
            raise ValidationError(msg["rows_min"] % {"n": min_rows})
        if not rows and conditions(spec) and condition_holds(form, spec):
            raise ValidationError(msg["required"])
        if len(rows) > max_rows or fld.submitted_rows > max_rows:
            raise ValidationError(msg["rows_max"] % {"n": max_rows})
        if bound:
            _check_sum(rows, rule["field"], expected, msg)

    return GroupField(
        FormField(row_cls), label=p.label, min_entries=max(min_rows, 1),
        max_entries=max_rows, validators=[check_rows], description=p.kwargs["description"],
    )


def _check_sum(rows: list[Any], column: str, expected: Decimal | None, msg: dict[str, str]) -> None:
    """The ``sum_equals`` rule: the rows' ``column`` adds up to ``expected`` (to the cent)."""
    if expected is None:
        raise ValidationError(msg["sum_missing"])
    total = sum((_decimal(e.form[column].data) or Decimal(0) for e in rows), Decimal(0))
    if _cents(total) != _cents(expected):
        raise ValidationError(msg["sum"] % {"total": f"{expected:.2f}", "sum": f"{total:.2f}"})


_BUILDERS: dict[str, Callable[[_FieldParts], Any]] = {
    "text": _text_field, "email": _text_field, "textarea": _text_field,
    "integer": _integer_field, "number": _number_field, "money": _number_field,
    "date": _date_field, "datetime": _datetime_field, "boolean": _boolean_field,
    **dict.fromkeys((*CHOICE_TYPES, "user", "department"), _choice_field),
    "file": _file_field, "files": _file_field, "group": _group_field,
}


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = Decimal(str(value))
    except (ArithmeticError, ValueError):
        return None
    return number if number.is_finite() else None


def _cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def data_keys(definition: dict[str, Any]) -> set[str]:
    """The task data keys the form's rules need (``sum_equals``)."""
    return {spec["sum_equals"]["data"] for spec in definition.get("fields", []) if spec.get("sum_equals")}


def bind_data(definition: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """The definition with its rules bound to a task's data: each ``sum_equals`` gets the value
    its column must add up to (None when the task's data lacks it, which refuses every submit)."""
    if not data_keys(definition):
        return definition
    fields = []
    for spec in definition["fields"]:
        rule = spec.get("sum_equals")
        if rule:
            value = _decimal(data.get(rule["data"]))
            spec = {**spec, "sum_equals": {**rule, "value": str(value) if value is not None else None}}
        fields.append(spec)
    return {**definition, "fields": fields}


def _row_is_blank(entry: Any) -> bool:
    return all(
        f.data in (None, "", [], False) for f in entry.form if f.type not in ("CSRFTokenField",)
    )


def form_class(
    definition: dict[str, Any], locale: str, source: ChoiceSource, base: type = Form
) -> type:
    """A WTForms class for ``definition`` (``base`` may be Flask-WTF's FlaskForm for CSRF)."""
    attrs = {spec["name"]: _field(spec, locale, source) for spec in definition["fields"]}
    return type("Form_" + definition["key"], (base,), attrs)


# ---------------------------------------------------------------------------- data


def _plain(value: Any) -> Any:
    """A JSON-friendly value for task data."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


FileStore = Callable[[Any], dict[str, Any]]


def form_data(form: Any, definition: dict[str, Any], store_file: FileStore | None = None) -> dict[str, Any]:
    """The validated values of ``form`` as task data (groups as lists of dicts)."""
    data: dict[str, Any] = {}
    for spec in definition["fields"]:
        fld = form[spec["name"]]
        ftype = spec["type"]
        if ftype == "group":
            rows = []
            for entry in fld.entries:
                if _row_is_blank(entry):
                    continue
                rows.append({sub["name"]: _plain(entry.form[sub["name"]].data) for sub in spec["fields"]
                             if sub["type"] not in FILE_TYPES})
            data[spec["name"]] = rows
        elif ftype in FILE_TYPES:
            stored = [store_file(f) for f in uploads_of(fld)] if store_file else []
            data[spec["name"]] = stored if ftype == "files" else (stored[0] if stored else None)
        elif ftype in ("select", "radio", "user", "department"):
            data[spec["name"]] = fld.data or None
        else:
            data[spec["name"]] = _plain(fld.data)
    return data


def to_formdata(definition: dict[str, Any], data: dict[str, Any]) -> MultiDict:
    """JSON task data → the form-encoded shape WTForms reads (for the API)."""
    md: MultiDict = MultiDict()

    def put(name: str, spec: dict[str, Any], value: Any) -> None:
        ftype = spec["type"]
        if value is None:
            return
        if ftype == "boolean":
            if value is True or (isinstance(value, str) and value.lower() in ("true", "y", "yes", "1")):
                md.add(name, "y")
        elif ftype == "multiselect":
            for item in value if isinstance(value, list) else [value]:
                md.add(name, str(item))
        elif ftype in FILE_TYPES:
            return
        elif isinstance(value, dict | list):
            md.add(name, "\x00invalid")  # a structure where a scalar belongs fails validation
        else:
            md.add(name, str(value).lower() if isinstance(value, bool) else str(value))

    for spec in definition["fields"]:
        value = data.get(spec["name"])
        if spec["type"] == "group":
            rows = value if isinstance(value, list) else []
            for index, row in enumerate(rows):
                if not isinstance(row, dict):
                    continue
                for sub in spec["fields"]:
                    put(f"{spec['name']}-{index}-{sub['name']}", sub, row.get(sub["name"]))
        else:
            put(spec["name"], spec, value)
    return md


def _flatten_errors(form: Any) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for fld in form:
        if isinstance(fld, FieldList):
            own = [e for e in fld.errors if isinstance(e, str)]
            if own:
                errors[fld.name] = own
            for index, entry in enumerate(fld.entries):
                for sub in entry.form:
                    if sub.errors:
                        errors[f"{fld.name}[{index}].{sub.name.split('-')[-1]}"] = list(sub.errors)
        elif fld.errors:
            errors[fld.name] = list(fld.errors)
    return errors


@dataclass
class Validation:
    """The outcome of validating a submission: task data (empty when invalid) or the errors
    per field; ``form`` is the bound form (to show the errors next to the fields) and
    ``uploads`` the chosen files per file field, not stored yet (see :func:`with_files`)."""

    data: dict[str, Any]
    errors: dict[str, list[str]]
    form: Any = None
    uploads: dict[str, list[Any]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


def validate(
    definition: dict[str, Any],
    locale: str,
    source: ChoiceSource,
    *,
    data: Any = None,
    formdata: Any = None,
    files: Any = None,
    existing: dict[str, list[dict[str, Any]]] | None = None,
    received: dict[str, list[dict[str, Any]]] | None = None,
    max_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> Validation:
    """Validate one submission of ``definition``'s form, whichever channel it came from.

    ``formdata`` is what an HTML form posted (a MultiDict; names it does not know are
    ignored, like the CSRF token), ``data`` a JSON object (API, approvals: unknown names and
    objects or lists where a field takes a single value are errors); ``files`` the uploads by
    field name (objects with ``filename``, e.g. werkzeug's FileStorage). Field rules, then
    the file rules (:func:`check_files`, counting the ``existing`` files of the task) — the
    same for every channel. Nothing is stored here.
    """
    msg = _messages(locale)
    extra: dict[str, list[str]] = {}
    if formdata is None:
        if not isinstance(data, dict):
            return Validation({}, {"data": [msg["not_object"]]})
        formdata = to_formdata(definition, data)
        extra.update(structure_errors(definition, data, locale))
        known = {spec["name"] for spec in definition["fields"]}
        file_fields = {spec["name"] for spec in definition["fields"] if spec["type"] in FILE_TYPES}
        for name in sorted(set(data) - known) + sorted(set(files or ()) - file_fields):
            extra[name] = [msg["unknown"]]
    if files:
        formdata = CombinedMultiDict([_multidict(files), _multidict(formdata)])
    form = form_class(definition, locale, source)(formdata=formdata, meta={"locales": [_wtf_locale(locale)]})
    form.validate()
    check_files(form, definition, locale, existing, received=received, max_bytes=max_bytes)
    errors = {**_flatten_errors(form), **extra}
    uploads = uploads_by_field(form, definition)
    return Validation({} if errors else form_data(form, definition), errors, form, uploads)


def validate_data(
    definition: dict[str, Any], payload: dict[str, Any], locale: str, source: ChoiceSource
) -> Validation:
    """Validate JSON ``payload`` against ``definition`` exactly as the HTML form would."""
    return validate(definition, locale, source, data=payload)


def _multidict(values: Any) -> MultiDict:
    return values if isinstance(values, MultiDict) else MultiDict(values)


LIST_TYPES = {"multiselect", "files", "group"}


def structure_errors(definition: dict[str, Any], payload: dict[str, Any], locale: str) -> dict[str, list[str]]:
    """Objects or lists where a field takes a single value, and group rows that are not objects
    in JSON data (the form layer would otherwise read them as text)."""
    msg = _messages(locale)
    errors: dict[str, list[str]] = {}

    def check(specs: list[dict[str, Any]], values: dict[str, Any], prefix: str) -> None:
        for spec in specs:
            value = values.get(spec["name"])
            name = prefix + spec["name"]
            if spec["type"] == "group":
                if value is None:
                    continue
                if not isinstance(value, list) or not all(isinstance(row, dict) for row in value):
                    errors[name] = [msg["objects"]]
                    continue
                for index, row in enumerate(value):
                    check(spec["fields"], row, f"{name}[{index}].")
            elif spec["type"] not in LIST_TYPES and isinstance(value, dict | list):
                errors[name] = [msg["single"]]
            elif spec["type"] == "multiselect" and isinstance(value, list) and any(
                isinstance(item, dict | list) for item in value
            ):
                errors[name] = [msg["values"]]

    check(definition["fields"], payload, "")
    return errors


# ---------------------------------------------------------------------------- files


def uploads_of(fld: Any) -> list[Any]:
    """The files actually chosen in a file field (a browser sends an empty part for none)."""
    files = fld.data if isinstance(fld.data, list) else [fld.data]
    return [f for f in files if f and getattr(f, "filename", "")]


def uploads_by_field(form: Any, definition: dict[str, Any]) -> dict[str, list[Any]]:
    """The files chosen in each file field of a bound form."""
    return {spec["name"]: uploads_of(form[spec["name"]]) for spec in definition["fields"] if spec["type"] in FILE_TYPES}


def existing_files(definition: dict[str, Any], data: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Files already in the task data, by field name (file inputs cannot be prefilled)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for spec in definition.get("fields", []):
        if spec["type"] in FILE_TYPES and data.get(spec["name"]):
            value = data[spec["name"]]
            found[spec["name"]] = [v for v in (value if isinstance(value, list) else [value]) if isinstance(v, dict)]
    return found


def upload_error(upload: Any, spec: dict[str, Any], locale: str,
                 default_max: int = DEFAULT_MAX_FILE_BYTES) -> str | None:
    """Why ``upload`` is refused for field ``spec`` in the user's language (None: it is accepted)."""
    problem = file_problem(upload, spec, default_max)
    if problem is None:
        return None
    msg = _messages(locale)
    if problem.kind == "size":
        return msg["file_size"] % problem.params
    if spec.get("accept"):
        return msg["file_kind"] % problem.params
    return msg["file_type"] % problem.params


def check_files(
    form: Any, definition: dict[str, Any], locale: str, existing: dict[str, list[Any]] | None = None,
    *, content: bool = True, received: dict[str, list[Any]] | None = None,
    max_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> bool:
    """The file rules on a validated form: a required file field needs an upload (or files it
    already has in ``existing``, or ``received`` on an earlier try), ``files`` fields take at most
    ``max_files`` (counting those received before), and (``content``) every upload passes
    :func:`upload_error` (type by content, the field's types, its size: ``max_mb`` or
    ``max_bytes``); errors are added to the fields. (WTForms leaves file inputs optional.)"""
    msg = _messages(locale)
    ok = True
    for spec in definition.get("fields", []):
        if spec["type"] not in FILE_TYPES:
            continue
        fld = form[spec["name"]]
        files = uploads_of(fld)
        earlier = list((received or {}).get(spec["name"]) or [])
        if spec.get("required") and not files and not earlier and not (existing or {}).get(spec["name"]):
            fld.errors = [*fld.errors, msg["file_required"]]
            ok = False
        limit = spec.get("max_files")
        count = len(files) + len(earlier)
        if (spec["type"] == "files" and isinstance(limit, int) and count > limit) or (
                spec["type"] == "file" and count > 1):
            fld.errors = [*fld.errors, msg["files_max"] % {"n": limit if spec["type"] == "files" else 1}]
            ok = False
        for upload in files if content else ():
            error = upload_error(upload, spec, locale, max_bytes)
            if error:
                fld.errors = [*fld.errors, error]
                ok = False
    return ok


def with_files(
    definition: dict[str, Any],
    validation: Validation,
    store_file: FileStore | None,
    existing: dict[str, list[dict[str, Any]]] | None = None,
    received: dict[str, list[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """The validated data with its uploads stored by ``store_file``, after the files ``received``
    (already stored) on an earlier try; a file field left empty keeps the files the task
    already has."""
    data = dict(validation.data)
    for spec in definition["fields"]:
        if spec["type"] not in FILE_TYPES:
            continue
        name = spec["name"]
        uploads = validation.uploads.get(name) or []
        if uploads and store_file is None:
            raise ValueError("uploads need a file store")
        stored = [store_file(f) for f in uploads] if store_file and uploads else []
        stored = [*(received or {}).get(name, []), *stored] or (existing or {}).get(name, [])
        data[name] = stored if spec["type"] == "files" else (stored[0] if stored else None)
    return data


def _wtf_locale(locale: str) -> str:
    return "en" if locale == "en" else "zh"


def schema(definition: dict[str, Any], locale: str, source: ChoiceSource) -> dict[str, Any]:
    """The form as JSON for API clients: each field's name, type, label, required, choices…"""

    def describe(spec: dict[str, Any]) -> dict[str, Any]:
        ftype = spec["type"]
        item: dict[str, Any] = {
            "name": spec["name"],
            "type": ftype,
            "label": localized(spec.get("label"), locale),
            "required": bool(spec.get("required")),
            "multiple": ftype in ("multiselect", "files", "group"),
        }
        if spec.get("help"):
            item["help"] = localized(spec["help"], locale)
        if ftype in CHOICE_TYPES or ftype in ("user", "department"):
            item["choices"] = [{"value": v, "label": lbl} for v, lbl in _choices(spec, locale, source)]
        for key in ("min", "max", "min_length", "max_length", "max_files", "accept", "max_mb", "min_rows", "max_rows"):
            if key in spec:
                item[key] = spec[key]
        if conditions(spec):
            item["required_if"] = conditions(spec)
        if ftype == "group":
            item["fields"] = [describe(sub) for sub in spec["fields"]]
        return item

    return {
        "key": definition["key"],
        "title": localized(definition.get("title"), locale),
        "fields": [describe(spec) for spec in definition["fields"]],
    }
