"""The declarative form layer: definition checks, validation, schema, data conversion."""

import io

from werkzeug.datastructures import MultiDict
from wtforms.fields.choices import SelectChoice

from app.clock import local_now
from app.formkit.build import (
    StaticChoices,
    existing_files,
    form_class,
    schema,
    validate,
    validate_data,
    with_files,
)
from app.formkit.definition import validate_definition

CHOICES = StaticChoices([("marketing", "营销 (marketing)")], [("quality", "质量部"), ("production", "生产车间")])
FORM = {
    "key": "sample",
    "title": {"zh": "示例", "en": "Sample"},
    "fields": [
        {"name": "name", "type": "text", "required": True, "max_length": 5, "label": {"zh": "名称", "en": "Name"}},
        {"name": "qty", "type": "integer", "min": 0, "label": "Qty"},
        {"name": "cost", "type": "money", "label": "Cost"},
        {"name": "when", "type": "date", "label": "When"},
        {"name": "ok", "type": "boolean", "label": "OK"},
        {"name": "kind", "type": "select", "required": True, "label": "Kind",
         "choices": [{"value": "a", "label": {"zh": "甲", "en": "A"}}, {"value": "b", "label": "B"}]},
        {"name": "tags", "type": "multiselect", "label": "Tags",
         "choices": [{"value": "x", "label": "X"}, {"value": "y", "label": "Y"}]},
        {"name": "dept", "type": "department", "label": "Dept"},
        {"name": "owner", "type": "user", "label": "Owner"},
        {"name": "rows", "type": "group", "min_rows": 0, "max_rows": 2, "label": "Rows",
         "fields": [{"name": "action", "type": "text", "required": True, "label": "Action"},
                    {"name": "due", "type": "date", "label": "Due"}]},
    ],
}


def test_valid_payload_becomes_plain_task_data():
    result = validate_data(FORM, {
        "name": "abc", "qty": 3, "cost": "12.50", "when": "2026-01-02", "ok": True, "kind": "a",
        "tags": ["x", "y"], "dept": "quality", "owner": "marketing",
        "rows": [{"action": "fix", "due": "2026-02-01"}, {"action": "check"}],
    }, "en", CHOICES)
    assert result.errors == {}
    assert result.data == {
        "name": "abc", "qty": 3, "cost": 12.5, "when": "2026-01-02", "ok": True, "kind": "a",
        "tags": ["x", "y"], "dept": "quality", "owner": "marketing",
        "rows": [{"action": "fix", "due": "2026-02-01"}, {"action": "check", "due": None}],
    }


def test_each_bad_field_gets_its_own_error_in_the_users_language():
    result = validate_data(FORM, {"name": "toolongname", "qty": -1, "kind": "z", "tags": ["q"],
                                  "dept": "finance", "extra": 1}, "zh", CHOICES)
    assert set(result.errors) == {"name", "qty", "kind", "tags", "dept", "extra"}
    assert result.data == {}
    assert "未知字段" in result.errors["extra"][0]
    missing = validate_data(FORM, {}, "zh", CHOICES)
    assert missing.errors["name"] == ["此项为必填项。"]
    assert validate_data(FORM, {}, "en", CHOICES).errors["name"] == ["This field is required."]


def test_optional_group_may_stay_empty_and_blank_rows_are_ignored():
    result = validate_data(FORM, {"name": "a", "kind": "a", "rows": [{"action": "", "due": ""}]}, "en", CHOICES)
    assert result.errors == {}
    assert result.data["rows"] == []


def test_group_rows_are_validated_and_bounded():
    bad_row = validate_data(FORM, {"name": "a", "kind": "a", "rows": [{"due": "2026-01-01"}]}, "en", CHOICES)
    assert bad_row.errors == {"rows[0].action": ["This field is required."]}
    too_many = validate_data(FORM, {"name": "a", "kind": "a", "rows": [{"action": str(i)} for i in range(3)]},
                             "en", CHOICES)
    assert too_many.errors == {"rows": ["At most 2 rows are allowed."]}


def test_schema_describes_every_field_with_localized_labels_and_choices():
    described = schema(FORM, "en", CHOICES)
    fields = {f["name"]: f for f in described["fields"]}
    assert described["title"] == "Sample"
    assert fields["name"] == {"name": "name", "type": "text", "label": "Name", "required": True,
                              "multiple": False, "max_length": 5}
    assert fields["kind"]["choices"] == [{"value": "a", "label": "A"}, {"value": "b", "label": "B"}]
    assert fields["tags"]["multiple"] is True
    assert [c["value"] for c in fields["dept"]["choices"]] == ["quality", "production"]
    assert [f["name"] for f in fields["rows"]["fields"]] == ["action", "due"]
    assert schema(FORM, "zh", CHOICES)["fields"][0]["label"] == "名称"


def test_wtforms_class_renders_every_select_with_an_empty_choice():
    form = form_class(FORM, "zh", CHOICES)()
    assert form.dept.choices[0] == SelectChoice("", "—")
    # a required select starts empty too: nothing is chosen for the user
    assert form.kind.choices[:2] == [SelectChoice("", "请选择…"), SelectChoice("a", "甲")]
    assert "selected" not in str(form.kind)  # the browser shows the empty first option
    assert form_class(FORM, "en", CHOICES)().kind.choices[0] == SelectChoice("", "Please choose…")
    assert validate_data(FORM, {"name": "a", "kind": ""}, "en", CHOICES).errors == {"kind": ["This field is required."]}


CONDITIONAL = {
    "key": "conditional",
    "title": "Conditional",
    "fields": [
        {"name": "new_type", "type": "select", "label": "New type", "placeholder": "unchanged",
         "choices": [{"value": "complaint", "label": "Complaint"}, {"value": "consultation", "label": "Consultation"}]},
        {"name": "new_urgency", "type": "select", "label": "New urgency",
         "choices": [{"value": "urgent", "label": "Urgent"}]},
        {"name": "reason", "type": "textarea", "label": "Reason",
         "required_if": [{"field": "new_type", "not_in": [""]}, {"field": "new_urgency", "not_in": [""]}]},
        {"name": "answer", "type": "textarea", "label": "Answer",
         "required_if": {"field": "new_type", "not_in": ["complaint"]}},
        {"name": "measures", "type": "group", "label": "Measures", "min_rows": 0, "max_rows": 3,
         "required_if": {"field": "new_type", "in": ["", "complaint"]},
         "fields": [{"name": "measure", "type": "text", "required": True, "label": "Measure"}]},
    ],
}


def test_required_if_makes_a_field_required_only_while_its_condition_holds():
    def errors(**payload):
        return validate_data(CONDITIONAL, payload, "en", CHOICES).errors

    # nothing reclassified: the answer and a measure are needed, the reason is not
    assert errors() == {"answer": ["This field is required."], "measures": ["This field is required."]}
    assert errors(answer="ok", measures=[{"measure": "m"}]) == {}
    # any reclassification needs a reason (a list of conditions means "any of them")
    assert errors(answer="ok", measures=[{"measure": "m"}], new_urgency="urgent") == {
        "reason": ["This field is required."]}
    # reclassified as a complaint: no answer needed, the measures are; the reason is
    assert errors(new_type="complaint", reason="really a complaint") == {"measures": ["This field is required."]}
    assert errors(new_type="consultation", reason="only a question", answer="see manual") == {}
    assert validate_data(CONDITIONAL, {"new_type": "consultation", "reason": "x", "answer": "y"}, "zh",
                         CHOICES).errors == {}
    assert errors(new_type="consultation", reason="x")["answer"] == ["This field is required."]
    form = form_class(CONDITIONAL, "en", CHOICES)()
    assert form.new_type.choices[0] == SelectChoice("", "unchanged")


def test_required_if_is_published_and_checked():
    fields = {f["name"]: f for f in schema(CONDITIONAL, "en", CHOICES)["fields"]}
    assert fields["answer"]["required"] is False
    assert fields["answer"]["required_if"] == [{"field": "new_type", "not_in": ["complaint"]}]
    assert len(fields["reason"]["required_if"]) == 2
    assert "required_if" not in fields["new_type"]
    assert validate_definition(CONDITIONAL) == []
    broken = {**CONDITIONAL, "fields": [
        *CONDITIONAL["fields"][:2],
        {"name": "a", "type": "text", "label": "A", "required_if": {"field": "missing", "in": ["x"]}},
        {"name": "b", "type": "text", "label": "B", "required_if": {"field": "new_type", "in": "complaint"}},
        {"name": "c", "type": "text", "label": "C", "required_if": {"field": "new_type", "in": [], "not_in": []}},
        {"name": "d", "type": "text", "label": "D", "required_if": {"field": "d", "in": [""]}},
        {"name": "e", "type": "text", "label": "E", "required_if": []},
        {"name": "g", "type": "group", "label": "G", "fields": [
            {"name": "x", "type": "text", "label": "X", "required_if": {"field": "new_type", "in": [""]}}]},
    ]}
    text = " | ".join(validate_definition(broken))
    assert "conditional.a: required_if names no other field of this form: 'missing'" in text
    assert "conditional.b: required_if needs either 'in' or 'not_in'" in text
    assert "conditional.c: required_if needs either 'in' or 'not_in'" in text
    assert "conditional.d: required_if names no other field" in text
    assert "conditional.e: required_if needs at least one condition" in text
    assert "conditional.g.x: required_if is for top-level fields only" in text


def test_definition_problems_are_listed():
    problems = validate_definition({"key": "Bad-Key", "title": "t", "fields": [
        {"name": "a", "type": "nope", "label": "A"},
        {"name": "a", "type": "text", "label": "A"},
        {"name": "typename", "type": "text", "label": "T"},
        {"name": "s", "type": "select", "label": "S"},
    ]})
    text = " | ".join(problems)
    assert "key 'Bad-Key'" in text
    assert "unknown type 'nope'" in text
    assert "duplicate field name 'a'" in text
    assert "'typename' is reserved" in text
    assert "needs a non-empty 'choices' list" in text
    assert validate_definition(FORM) == []


FILES_FORM = {
    "key": "files_sample", "title": "Files",
    "fields": [
        {"name": "note", "type": "text", "label": "Note"},
        {"name": "photo", "type": "file", "required": True, "label": "Photo"},
        {"name": "sheets", "type": "files", "max_files": 1, "label": "Sheets"},
    ],
}


PNG = b"\x89PNG\r\n\x1a\n" + bytes(8)  # the start of a real PNG file (uploads are judged by content)


class _Upload:
    def __init__(self, filename: str) -> None:
        self.filename, self.content_type, self.stream = filename, "image/png", io.BytesIO(PNG)


def test_file_rules_are_the_same_for_posted_forms_and_json():
    files = MultiDict([("sheets", _Upload("a.png")), ("sheets", _Upload("b.png"))])
    posted = validate(FILES_FORM, "en", CHOICES, formdata=MultiDict({"note": "x"}), files=files)
    sent = validate(FILES_FORM, "en", CHOICES, data={"note": "x"}, files=files)
    assert posted.errors == sent.errors == {"photo": ["Please choose a file."], "sheets": ["At most 1 files."]}
    assert posted.form["photo"].errors == ["Please choose a file."]  # shown next to the field
    # an empty file part (a browser's "no file chosen") is no upload
    empty = validate(FILES_FORM, "zh", CHOICES, formdata=MultiDict({"note": "x"}),
                     files=MultiDict({"photo": _Upload("")}))
    assert empty.errors == {"photo": ["请选择文件。"]}


def test_existing_files_satisfy_a_required_file_and_stay_when_nothing_new_is_chosen():
    old = {"id": "1" * 64, "sha256": "1" * 64, "name": "old.png", "size": 3, "content_type": "image/png"}
    existing = existing_files(FILES_FORM, {"photo": old, "sheets": [old, "not a file"]})
    assert existing == {"photo": [old], "sheets": [old]}
    result = validate(FILES_FORM, "en", CHOICES, data={"note": "x"}, existing=existing)
    assert result.ok
    stored: list[str] = []

    def store(upload):
        stored.append(upload.filename)
        return {"id": upload.filename}

    assert with_files(FILES_FORM, result, store, existing) == {"note": "x", "photo": old, "sheets": [old]}
    assert stored == []
    chosen = validate(FILES_FORM, "en", CHOICES, data={}, files=MultiDict({"sheets": _Upload("new.png")}),
                      existing=existing)
    assert with_files(FILES_FORM, chosen, store, existing)["sheets"] == [{"id": "new.png"}]
    assert stored == ["new.png"]  # stored only when asked to, after validating


def test_json_structure_and_unknown_names_are_errors():
    result = validate(FORM, "en", CHOICES, data={"name": ["a"], "kind": "a", "rows": "x", "tags": [["x"]]},
                      files=MultiDict({"nope": _Upload("a.png")}))
    assert result.errors["name"] == ["A single value is expected here."]
    assert result.errors["rows"] == ["A list of objects is expected here."]
    assert result.errors["tags"] == ["A list of values is expected here."]
    assert result.errors["nope"] == ["Unknown field."]
    assert validate(FORM, "zh", CHOICES, data=["not", "an", "object"]).errors == {"data": ["数据必须是 JSON 对象。"]}


DATES = {
    "key": "dates", "title": "Dates",
    "fields": [
        {"name": "done_on", "type": "date", "required": True, "not_future": True, "label": "Done on"},
        {"name": "received_at", "type": "datetime", "not_future": True, "label": "Received"},
        {"name": "due_on", "type": "date", "label": "Due"},
    ],
}


def test_an_impossible_date_is_invalid_not_missing():
    result = validate(DATES, "zh", CHOICES, formdata=MultiDict({"done_on": "2026-02-31"}))
    assert result.errors["done_on"] == ["日期无效，请按 年-月-日 填写一个存在的日期。"]
    english = validate(DATES, "en", CHOICES, formdata=MultiDict({"done_on": "02/31/2026", "received_at": "x"}))
    assert english.errors["done_on"] == ["Not a valid date: enter a real date as year-month-day."]
    assert english.errors["received_at"] == ["Not a valid date and time."]
    assert validate(DATES, "en", CHOICES, formdata=MultiDict({})).errors["done_on"] == ["This field is required."]


def test_a_date_that_records_the_past_refuses_the_future():
    future = validate_data(DATES, {"done_on": "2031-01-01", "received_at": "2031-01-01T09:00"}, "en", CHOICES)
    assert future.errors == {
        "done_on": ["This records what has happened; it cannot be in the future."],
        "received_at": ["This records what has happened; it cannot be in the future."],
    }
    today = local_now().date().isoformat()
    assert validate_data(DATES, {"done_on": today, "due_on": "2031-01-01"}, "en", CHOICES).errors == {}
    rendered = str(form_class(DATES, "en", CHOICES)()["done_on"])
    assert f'max="{today}"' in rendered and "data-invalid-message" in rendered
    assert validate_definition({**DATES, "fields": [{"name": "n", "type": "text", "label": "N", "not_future": True}]})
