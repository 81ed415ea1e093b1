"""The OpenAPI 3.1 document of API v1, served at /api/v1/openapi.json.

tests/api/test_openapi.py checks that every route of the blueprint is described here.
"""

from __future__ import annotations

import copy
from typing import Any

from flask import jsonify

from app.api import bp
from app.api.auth import endpoint
from app.api.cases import INTAKE_FORM
from app.engine.errors import NotFound
from app.extensions import db
from app.formkit.schema import json_schema
from app.services import forms as form_service


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(code): {"$ref": f"#/components/responses/{ERROR_RESPONSES[code][0]}"} for code in codes}


ERROR_RESPONSES = {
    400: ("BadRequest", "Malformed request: the body is not JSON, or a query parameter is invalid."),
    401: ("Unauthorized", "Missing, invalid or expired bearer token (or wrong credentials)."),
    403: ("Forbidden", "The caller may not see or act on this resource."),
    404: ("NotFound", "No such resource."),
    409: ("Conflict", "The task is no longer open, or someone else holds it."),
    413: ("PayloadTooLarge", "The request body is too large."),
    422: ("ValidationFailed", "The data is not valid; error.fields lists the messages per field."),
}

NULLABLE_STRING = {"type": ["string", "null"]}
DATETIME = {"type": ["string", "null"], "format": "date-time", "description": "ISO 8601, UTC"}
TASK_ID = {"name": "task_id", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 36}}
CASE_ID = {"name": "case_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
ACCEPT_LANGUAGE = {
    "name": "Accept-Language", "in": "header", "required": False,
    "description": "zh (default) or en; without it the caller's own language is used.",
    "schema": {"type": "string", "example": "en"},
}

SCHEMAS: dict[str, Any] = {
    "CaseDocument": {
        "type": "object",
        "required": ["key", "kind", "title", "department", "media_type", "url", "urls"],
        "properties": {
            "key": {"type": "string", "description": "improvement, request, 8d-<department code> or dossier"},
            "kind": {"type": "string", "enum": ["improvement", "request", "eight_d", "dossier"]},
            "title": {"type": "string"},
            "department": {**NULLABLE_STRING, "description": "The department of an 8D report (its code)."},
            "media_type": {"type": "string", "enum": ["application/pdf"]},
            "url": {"type": "string", "description": "Download URL in the caller's language."},
            "urls": {"type": "object", "required": ["zh", "en"],
                     "properties": {"zh": {"type": "string"}, "en": {"type": "string"}}},
        },
    },
    "CaseDocuments": {
        "type": "object",
        "required": ["case_id", "case_number", "documents"],
        "properties": {
            "case_id": {"type": "integer"},
            "case_number": {"type": "string"},
            "documents": {"type": "array", "items": _ref("CaseDocument")},
        },
    },
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["status", "message"],
                "properties": {
                    "status": {"type": "integer"},
                    "message": {"type": "string", "description": "In the request's language."},
                    "code": {"type": "string", "description": "Machine-readable reason (engine errors)."},
                    "fields": {
                        "type": "object",
                        "description": "422 only: messages per field name (group rows as name[index].sub).",
                        "additionalProperties": {"type": "array", "items": {"type": "string"}},
                    },
                },
            }
        },
    },
    "TokenRequest": {
        "type": "object",
        "required": ["username", "password"],
        "properties": {"username": {"type": "string"}, "password": {"type": "string", "format": "password"}},
    },
    "Token": {
        "type": "object",
        "required": ["token", "expires_at"],
        "properties": {
            "token": {"type": "string"},
            "token_type": {"type": "string", "const": "Bearer"},
            "expires_at": {"type": "string", "format": "date-time"},
            "username": {"type": "string"},
        },
    },
    "Health": {"type": "object", "properties": {"status": {"type": "string", "const": "ok"}}},
    "CaseIntake": {
        "type": "object",
        "description": "Fields of the case_intake form; unknown fields are refused.",
        "required": ["customer_name", "description", "feedback_type", "urgency"],
        "properties": {
            "customer_name": {"type": "string", "maxLength": 200},
            "customer_contact": {"type": "string", "maxLength": 200},
            "customer_email": {"type": "string", "format": "email"},
            "customer_language": {"enum": ["zh", "en"], "description": "The language of e-mails to the customer."},
            "product_model": {"type": "string", "maxLength": 120},
            "ship_date": {"type": "string", "format": "date"},
            "description": {"type": "string"},
            "defective_qty": {"type": "integer", "minimum": 0},
            "serial_numbers": {"type": "string"},
            "batch_no": {"type": "string", "maxLength": 80},
            "demands": {
                "type": "array",
                "items": {"enum": ["onsite", "replenish", "exchange", "return", "claim", "fine"]},
            },
            "channel": {"type": "string"},
            "feedback_type": {"enum": ["consultation", "suggestion", "complaint", "praise"]},
            "category": {"type": "string"},
            "urgency": {"enum": ["urgent", "important", "general"]},
        },
        "additionalProperties": True,
    },
    "Case": {
        "type": "object",
        "required": ["id", "number", "status"],
        "properties": {
            "id": {"type": "integer"},
            "number": {"type": "string", "pattern": "^FB-[0-9]{4}-[0-9]{5}$"},
            "status": {"type": "string", "examples": ["open", "closed", "unresolvable", "cancelled"]},
            "stage": NULLABLE_STRING,
            "feedback_type": {"type": "string"},
            "category": NULLABLE_STRING,
            "urgency": NULLABLE_STRING,
            "channel": NULLABLE_STRING,
            "customer_name": {"type": "string"},
            "customer_contact": NULLABLE_STRING,
            "customer_email": NULLABLE_STRING,
            "product_model": NULLABLE_STRING,
            "serial_numbers": NULLABLE_STRING,
            "batch_no": NULLABLE_STRING,
            "ship_date": {"type": ["string", "null"], "format": "date"},
            "defective_qty": {"type": ["integer", "null"]},
            "description": NULLABLE_STRING,
            "received_at": DATETIME,
            "acknowledged_at": DATETIME,
            "closed_at": DATETIME,
            "updated_at": DATETIME,
            "customer_locale": {"enum": ["zh", "en"], "description": "The language of e-mails to the customer."},
            "customer_clock": _ref("CustomerClock"),
            "data": {"type": "object", "description": "The full intake data."},
        },
    },
    "CustomerClock": {
        "type": "object",
        "description": "The promised limits (first answer, resolution) and whether they were kept; "
                       "state is null for cases opened before the clock existed.",
        "properties": {
            "state": {"type": ["string", "null"],
                      "enum": ["on_track", "at_risk", "breached", "paused", "met", "missed", "stopped", None]},
            "running": {"type": ["string", "null"], "enum": ["first_answer", "resolution", None]},
            "hours_left": {"type": ["number", "null"], "description": "Working hours left (negative: over)."},
            "first_answer_due_at": DATETIME,
            "first_answer_at": DATETIME,
            "first_answer_met": {"type": ["boolean", "null"]},
            "first_answer_minutes": {"type": ["integer", "null"], "description": "Working minutes taken."},
            "resolution_due_at": DATETIME,
            "resolved_at": DATETIME,
            "resolution_met": {"type": ["boolean", "null"]},
            "resolution_minutes": {"type": ["integer", "null"],
                                   "description": "Working minutes taken, time waiting for the customer excluded."},
            "waited_minutes": {"type": "integer", "description": "Working minutes spent waiting for the customer."},
        },
    },
    "HistoryEntry": {
        "type": "object",
        "properties": {
            "at": DATETIME,
            "actor": {"type": "string"},
            "action": {"type": "string", "examples": ["process_started", "task_completed", "timer_fired"]},
            "element": NULLABLE_STRING,
            "message": NULLABLE_STRING,
        },
    },
    "CaseDetail": {
        "allOf": [
            _ref("Case"),
            {
                "type": "object",
                "properties": {
                    "stages": {"type": "array", "items": {"type": "string"}},
                    "open_tasks": {"type": "array", "items": _ref("Task")},
                    "history": {"type": "array", "items": _ref("HistoryEntry")},
                },
            },
        ]
    },
    "Task": {
        "type": "object",
        "required": ["id", "name", "status"],
        "properties": {
            "id": {"type": "string"},
            "case_id": {"type": ["integer", "null"]},
            "case_number": NULLABLE_STRING,
            "name": {"type": "string", "description": "The task's title in the request's language."},
            "element_id": {"type": "string"},
            "form_key": NULLABLE_STRING,
            "department": {"type": ["string", "null"], "description": "Department code."},
            "assignee": {"type": ["string", "null"], "description": "Username of the assignee."},
            "status": {"enum": ["open", "completed", "cancelled"]},
            "due_at": DATETIME,
            "created_at": DATETIME,
            "completed_at": DATETIME,
            "customer_name": NULLABLE_STRING,
        },
    },
    "TaskList": {
        "type": "object",
        "properties": {
            "scope": {"enum": ["mine", "department", "all"]},
            "limit": {"type": "integer"},
            "offset": {"type": "integer"},
            "tasks": {"type": "array", "items": _ref("Task")},
        },
    },
    "FormField": {
        "type": "object",
        "required": ["name", "type", "label", "required", "multiple"],
        "properties": {
            "name": {"type": "string"},
            "type": {
                "enum": ["text", "textarea", "email", "integer", "number", "money", "date", "datetime", "boolean",
                         "select", "multiselect", "radio", "user", "department", "file", "files", "group"],
            },
            "label": {"type": "string"},
            "help": {"type": "string"},
            "required": {"type": "boolean"},
            "multiple": {"type": "boolean"},
            "choices": {
                "type": "array",
                "items": {"type": "object", "properties": {"value": {"type": "string"}, "label": {"type": "string"}}},
            },
            "min": {"type": "number"},
            "max": {"type": "number"},
            "min_length": {"type": "integer"},
            "max_length": {"type": "integer"},
            "min_rows": {"type": "integer"},
            "max_rows": {"type": "integer"},
            "required_if": {
                "type": "array",
                "description": "Required (a group: at least one row) when any condition holds: the named field's "
                               "value is (in) or is not (not_in) one of the values; \"\" means left empty.",
                "items": {"type": "object", "properties": {
                    "field": {"type": "string"},
                    "in": {"type": "array", "items": {"type": "string"}},
                    "not_in": {"type": "array", "items": {"type": "string"}},
                }},
            },
            "fields": {"type": "array", "items": _ref("FormField"), "description": "Sub-fields of a group."},
        },
    },
    "FormSchema": {
        "type": "object",
        "properties": {
            "key": {"type": "string"},
            "title": {"type": "string"},
            "fields": {"type": "array", "items": _ref("FormField")},
        },
    },
    "TaskDetail": {
        "allOf": [
            _ref("Task"),
            {
                "type": "object",
                "properties": {
                    "form": _ref("FormSchema"),
                    "data": {"type": "object", "description": "Current values of the form's fields."},
                    "can_act": {"type": "boolean"},
                },
            },
        ]
    },
    "Completion": {
        "type": "object",
        "required": ["data"],
        "properties": {
            "data": {"type": "object", "description": "Values for the task's form fields (see TaskDetail.form)."},
            "submit_token": {
                "type": "string", "minLength": 1, "maxLength": 64,
                "description": "Makes the submit idempotent: repeating it answers 200 with the completed task.",
            },
        },
        "additionalProperties": False,
    },
    "AuditEvent": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "at": DATETIME,
            "actor": {"type": "string"},
            "actor_id": {"type": ["integer", "null"]},
            "action": {"type": "string"},
            "element": NULLABLE_STRING,
            "task_id": NULLABLE_STRING,
            "message": NULLABLE_STRING,
            "data_before": {},
            "data_after": {},
            "seq": {"type": "integer", "description": "Position in the hash chain."},
            "actor_roles": {"type": "array", "items": {"type": "string"},
                            "description": "The actor's roles at that moment (head:<department> for heads)."},
            "actor_departments": {"type": "array", "items": {"type": "string"}},
            "channel": {"enum": ["web", "api", "scheduler", "cli", "system"]},
            "client_address": NULLABLE_STRING,
            "user_agent": NULLABLE_STRING,
            "case_id": {"type": ["integer", "null"]},
            "case_number": NULLABLE_STRING,
            "process": {"type": ["string", "null"], "description": "Process key and version, e.g. feedback_case v2."},
            "instance_id": {"type": ["integer", "null"]},
            "definition_id": {"type": ["integer", "null"]},
            "changes": {"type": "string", "description": "The readable difference: field: before → after; …"},
            "prev_hash": {"type": "string"},
            "hash": {"type": "string"},
        },
    },
    "ChainHead": {
        "type": "object",
        "properties": {"seq": {"type": "integer"}, "hash": {"type": "string"}},
        "description": "The hash chain's last event when the export was taken (compare with a later "
                       "flask audit verify --published).",
    },
    "AuditTrail": {
        "type": "object",
        "properties": {
            "chain_head": _ref("ChainHead"),
            "taken_at": DATETIME,
            "filters": {"type": "object"},
            "total": {"type": "integer"},
            "case_id": {"type": "integer"},
            "case_number": {"type": "string"},
            "events": {"type": "array", "items": _ref("AuditEvent")},
        },
    },
    "AuditExport": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"}, "format": {"enum": ["json", "csv", "xlsx"]}, "filters": {"type": "object"},
            "total": {"type": "integer"}, "written": {"type": "integer"}, "finished": {"type": "boolean"},
            "finished_at": {"type": ["string", "null"], "format": "date-time"}, "requested_at": DATETIME,
            "chain_head": _ref("ChainHead"),
        },
    },
}

AUDIT_FORMAT = {"name": "format", "in": "query", "required": False,
                "schema": {"enum": ["json", "csv", "xlsx"], "default": "json"}}
AUDIT_EXPORT_RESPONSE = {
    "description": "The events in chain order, streamed. Headers: X-Audit-Chain-Head (seq=… hash=…, the chain "
                   "head the export was taken at), X-Audit-Export-Id (its progress), X-Audit-Event-Count.",
    "content": {
        "application/json": {"schema": _ref("AuditTrail")},
        "text/csv": {
            "schema": {"type": "string"},
            "description": "UTF-8 with BOM. First line: '# audit trail chain head seq=… hash=… taken_at=… "
                           "total=… filters=…'; then a header row (seq, id, at, actor, …, data_before, data_after, "
                           "prev_hash, hash) and one row per event, the data as JSON strings.",
        },
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
            "schema": {"type": "string", "format": "binary"},
            "description": "Sheet 'chain' with the chain head and filters, sheet 'events' with one row per event.",
        },
    },
}

PATHS: dict[str, Any] = {
    "/api/v1/health": {
        "get": {
            "operationId": "health", "tags": ["meta"], "summary": "Liveness and database reachability",
            "security": [],
            "responses": {"200": _json(_ref("Health"), "The service is up.")},
        }
    },
    "/api/v1/openapi.json": {
        "get": {
            "operationId": "openapi", "tags": ["meta"], "summary": "This document", "security": [],
            "responses": {"200": _json({"type": "object"}, "The OpenAPI document.")},
        }
    },
    "/api/v1/auth/token": {
        "post": {
            "operationId": "issueToken", "tags": ["auth"], "summary": "Exchange credentials for a bearer token",
            "security": [],
            "parameters": [ACCEPT_LANGUAGE],
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("TokenRequest")}}},
            "responses": {"200": _json(_ref("Token"), "A new token."), **_errors(400, 401, 413, 422)},
        }
    },
    "/api/v1/cases": {
        "get": {
            "operationId": "listCases", "tags": ["cases"],
            "summary": "Cases the caller may read, newest first, with filters and paging",
            "parameters": [
                *({"name": name, "in": "query", "required": False, "schema": {"type": "string", "maxLength": 40}}
                  for name in ("status", "feedback_type", "category", "urgency", "channel")),
                {"name": "q", "in": "query", "required": False,
                 "description": "Full-text search: every word must occur in the case's number, customer, contact, "
                                "product model, serial numbers, batch, description or the free text of its completed "
                                "tasks (the departments' measures)",
                 "schema": {"type": "string", "maxLength": 100}},
                {"name": "stage", "in": "query", "required": False,
                 "description": "An open task's element id, or part of its title (either language)",
                 "schema": {"type": "string", "maxLength": 100}},
                {"name": "department", "in": "query", "required": False,
                 "description": "Id of a department that has (or had) a task on the case",
                 "schema": {"type": "integer", "minimum": 1, "maximum": 2147483647}},
                *({"name": name, "in": "query", "required": False, "description": description,
                   "schema": {"type": "string", "format": "date"}}
                  for name, description in (("received_from", "Received on or after this local day"),
                                            ("received_until", "Received on or before this local day"))),
                {"name": "overdue", "in": "query", "required": False,
                 "description": "Only cases with an open task past its due time",
                 "schema": {"type": "boolean"}},
                {"name": "limit", "in": "query", "required": False,
                 "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}},
                {"name": "offset", "in": "query", "required": False,
                 "schema": {"type": "integer", "minimum": 0, "maximum": 1000000000, "default": 0}},
                ACCEPT_LANGUAGE,
            ],
            "responses": {
                "200": _json({"type": "object", "required": ["total", "total_exact", "limit", "offset", "cases"],
                              "properties": {
                    "total": {"type": "integer", "description": "Matching cases; with q, counted up to 1000"},
                    "total_exact": {"type": "boolean", "description": "false when a search matched more than 1000"},
                    "limit": {"type": "integer"}, "offset": {"type": "integer"},
                    "cases": {"type": "array", "items": _ref("Case")}}}, "One page of cases."),
                **_errors(400, 401, 403),
            },
        },
        "post": {
            "operationId": "createCase", "tags": ["cases"],
            "summary": "Register a case and start its process (marketing staff and admins)",
            "parameters": [ACCEPT_LANGUAGE],
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("CaseIntake")}}},
            "responses": {
                "201": {**_json(_ref("Case"), "The new case."),
                        "headers": {"Location": {"schema": {"type": "string"}}}},
                **_errors(400, 401, 403, 413, 422),
            },
        }
    },
    "/api/v1/cases/{case_id}": {
        "get": {
            "operationId": "getCase", "tags": ["cases"],
            "summary": "A case with its status, stages, open tasks and history",
            "parameters": [CASE_ID, ACCEPT_LANGUAGE],
            "responses": {"200": _json(_ref("CaseDetail"), "The case."), **_errors(401, 403, 404)},
        }
    },
    "/api/v1/cases/{case_id}/documents": {
        "get": {
            "operationId": "listCaseDocuments", "tags": ["cases"],
            "summary": "The case's printable documents (improvement form, replenish/exchange/return request, "
                       "each department's 8D report, dossier) with their download URLs, for whoever may see the case",
            "parameters": [CASE_ID, ACCEPT_LANGUAGE],
            "responses": {"200": _json(_ref("CaseDocuments"), "The documents."), **_errors(401, 403, 404)},
        }
    },
    "/api/v1/cases/{case_id}/documents/{doc}": {
        "get": {
            "operationId": "getCaseDocument", "tags": ["cases"],
            "summary": "One document of the case as PDF (the export is recorded in the audit trail)",
            "parameters": [
                CASE_ID,
                {"name": "doc", "in": "path", "required": True,
                 "schema": {"type": "string", "pattern": "^[a-z0-9_-]{1,60}$"},
                 "description": "A key from the list: improvement, request, 8d-<department code>, dossier."},
                {"name": "lang", "in": "query", "required": False, "schema": {"type": "string", "enum": ["zh", "en"]},
                 "description": "The document's language; default the caller's."},
                ACCEPT_LANGUAGE,
            ],
            "responses": {
                "200": {"description": "The PDF.",
                        "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}},
                **_errors(400, 401, 403, 404),
            },
        }
    },
    "/api/v1/tasks": {
        "get": {
            "operationId": "listTasks", "tags": ["tasks"], "summary": "Open tasks visible to the caller",
            "parameters": [
                {"name": "scope", "in": "query", "required": False,
                 "description": "mine: assigned to me; department: my departments' tasks; "
                                "all (default): everything I may see.",
                 "schema": {"enum": ["mine", "department", "all"], "default": "all"}},
                {"name": "limit", "in": "query", "required": False,
                 "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 200}},
                {"name": "offset", "in": "query", "required": False,
                 "schema": {"type": "integer", "minimum": 0, "default": 0}},
                ACCEPT_LANGUAGE,
            ],
            "responses": {"200": _json(_ref("TaskList"), "Open tasks, soonest due first."), **_errors(400, 401)},
        }
    },
    "/api/v1/tasks/{task_id}": {
        "get": {
            "operationId": "getTask", "tags": ["tasks"], "summary": "A task with its form schema",
            "parameters": [TASK_ID, ACCEPT_LANGUAGE],
            "responses": {"200": _json(_ref("TaskDetail"), "The task."), **_errors(401, 403, 404)},
        }
    },
    "/api/v1/tasks/{task_id}/claim": {
        "post": {
            "operationId": "claimTask", "tags": ["tasks"], "summary": "Assign the task to the caller",
            "parameters": [TASK_ID, ACCEPT_LANGUAGE],
            "responses": {"200": _json(_ref("Task"), "The claimed task."), **_errors(401, 403, 404, 409)},
        }
    },
    "/api/v1/tasks/{task_id}/unclaim": {
        "post": {
            "operationId": "unclaimTask", "tags": ["tasks"],
            "summary": "Release the task (its assignee or the department head)",
            "parameters": [TASK_ID, ACCEPT_LANGUAGE],
            "responses": {"200": _json(_ref("Task"), "The released task."), **_errors(401, 403, 404, 409)},
        }
    },
    "/api/v1/tasks/{task_id}/complete": {
        "post": {
            "operationId": "completeTask", "tags": ["tasks"],
            "summary": "Complete the task with its form data and run the process on",
            "description": "Validated exactly like the task page: the form's field rules, its file rules "
                           "(a required file field needs a file, unless the task has one; at most max_files) "
                           "and the structure of data. To upload files, send multipart/form-data: the part "
                           "data holds the JSON object of field values, each file goes in a part named after "
                           "its file field.",
            "parameters": [TASK_ID, ACCEPT_LANGUAGE],
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": _ref("Completion")},
                "multipart/form-data": {"schema": {
                    "type": "object", "required": ["data"],
                    "properties": {
                        "data": {"type": "string", "contentMediaType": "application/json",
                                 "description": "Values for the task's form fields, as JSON text."},
                        "submit_token": {"type": "string", "minLength": 1, "maxLength": 64},
                    },
                    "additionalProperties": {"type": "string", "format": "binary",
                                             "description": "A file for the file field of this name."},
                }},
            }},
            "responses": {
                "200": _json(_ref("CompletedTask"), "The completed task (status completed), with its instance's "
                                                    "open tasks after the completion: the next step, without "
                                                    "reading the instance again."),
                **_errors(400, 401, 403, 404, 409, 413, 422),
            },
        }
    },
    "/api/v1/audit": {
        "get": {
            "operationId": "auditTrail", "tags": ["audit"],
            "summary": "The audit trail of a case, for whoever may see the case",
            "parameters": [
                {"name": "case", "in": "query", "required": True, "schema": {"type": "integer", "minimum": 1}},
                AUDIT_FORMAT,
                ACCEPT_LANGUAGE,
            ],
            "responses": {"200": AUDIT_EXPORT_RESPONSE, **_errors(400, 401, 403, 404)},
        }
    },
    "/api/v1/audit/events": {
        "get": {
            "operationId": "auditEvents", "tags": ["audit"],
            "summary": "The whole audit trail, filtered (auditors and administrators); streamed",
            "parameters": [
                {"name": "from", "in": "query", "required": False, "schema": {"type": "string", "format": "date"},
                 "description": "First local day (inclusive)."},
                {"name": "to", "in": "query", "required": False, "schema": {"type": "string", "format": "date"},
                 "description": "Last local day (inclusive)."},
                {"name": "case", "in": "query", "required": False, "schema": {"type": "string"},
                 "description": "Case number or id."},
                {"name": "department", "in": "query", "required": False, "schema": {"type": "string"},
                 "description": "Department code: events by its members at the time, or about its tasks."},
                {"name": "user", "in": "query", "required": False, "schema": {"type": "string"},
                 "description": "Username or user id of the actor."},
                {"name": "action", "in": "query", "required": False, "schema": {"type": "string"}},
                AUDIT_FORMAT,
                ACCEPT_LANGUAGE,
            ],
            "responses": {"200": AUDIT_EXPORT_RESPONSE, **_errors(400, 401, 403)},
        }
    },
    "/api/v1/audit/exports/{export_id}": {
        "get": {
            "operationId": "auditExportProgress", "tags": ["audit"],
            "summary": "How far an export has got (X-Audit-Export-Id of its response)",
            "parameters": [
                {"name": "export_id", "in": "path", "required": True, "schema": {"type": "integer"}},
                ACCEPT_LANGUAGE,
            ],
            "responses": {"200": _json(_ref("AuditExport"), "The export's progress."), **_errors(401, 404)},
        }
    },
}

# ---------------------------------------------------------------------------- process definitions (designer)

KEY = {"name": "key", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 100}}
INSTANCE_ID = {"name": "instance_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}

SCHEMAS.update({
    "DefinitionVersion": {
        "type": "object",
        "required": ["id", "key", "version"],
        "properties": {
            "id": {"type": "integer"},
            "key": {"type": "string"},
            "version": {"type": "integer", "minimum": 1},
            "name": NULLABLE_STRING,
            "source_name": NULLABLE_STRING,
            "deployed_at": DATETIME,
            "running_instances": {"type": "integer", "description": "Running or incident instances on it."},
            "live": {"type": "boolean", "description": "The latest version: new instances start on it."},
        },
    },
    "ProcessDefinitionList": {
        "type": "object",
        "properties": {
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "key": {"type": "string"},
                        "name": NULLABLE_STRING,
                        "live_version": {"type": "integer"},
                        "versions": {"type": "array", "items": _ref("DefinitionVersion")},
                    },
                },
            }
        },
    },
    "DiagramUpload": {
        "type": "object",
        "required": ["xml"],
        "properties": {"filename": {"type": "string", "default": "upload.bpmn"}, "xml": {"type": "string"}},
    },
    "DeployResult": {
        "type": "object",
        "properties": {
            "created": {"type": "boolean", "description": "false: identical content was deployed already."},
            "definitions": {"type": "array", "items": _ref("DefinitionVersion")},
        },
    },
    "DefinitionProblems": {
        "description": "422 for a bad diagram: error.problems lists every problem with the element it concerns.",
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "properties": {
                    "status": {"type": "integer", "const": 422},
                    "message": {"type": "string"},
                    "code": {"type": "string", "const": "invalid_definition"},
                    "problems": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "message": {"type": "string"},
                                "element_id": {"type": "string"},
                                "element_name": {"type": "string"},
                                "file": {"type": "string"},
                                "line": {"type": ["integer", "null"]},
                                "severity": {"type": "string"},
                            },
                        },
                    },
                },
            }
        },
    },
    "StartRequest": {
        "type": "object",
        "description": "The start data, validated by the process's start form (its startForm; unknown fields "
                       "are refused): either the object itself or {\"data\": {...}}.",
        "additionalProperties": True,
    },
    "CompletedTask": {
        "allOf": [
            _ref("Task"),
            {
                "type": "object",
                "properties": {
                    "instance_open_tasks": {"type": "array", "items": _ref("Task"),
                                            "description": "The instance's open tasks after the completion, "
                                                           "oldest first (as GET /instances/{id})."},
                },
            },
        ]
    },
    "StartedInstance": {
        "type": "object",
        "required": ["instance_id", "created"],
        "properties": {
            "instance_id": {"type": "integer"},
            "process_key": {"type": "string"},
            "version": {"type": "integer"},
            "status": {"type": "string"},
            "created": {"type": "boolean", "description": "False: an idempotent start found the instance."},
            "open_tasks": {"type": "array", "items": _ref("Task"),
                           "description": "The instance's open tasks, oldest first (as GET /instances/{id})."},
        },
    },
    "AssessmentStart": {
        "type": "object",
        "required": ["week"],
        "additionalProperties": False,
        "properties": {
            "week": {"type": "string", "pattern": "^[0-9]{4}-W[0-9]{2}$", "example": "2026-W48",
                     "description": "An ISO week that has ended. Its rows are computed by the server."},
        },
    },
    "StartedAssessment": {
        "type": "object",
        "required": ["instance_id", "week", "created"],
        "properties": {
            "instance_id": {"type": "integer"},
            "week": {"type": "string", "example": "2026-W48"},
            "status": {"type": "string"},
            "created": {"type": "boolean", "description": "False: the week had been started already."},
            "url": {"type": "string", "description": "The assessment's page."},
        },
    },
    "Instance": {
        "type": "object",
        "required": ["id", "status"],
        "properties": {
            "id": {"type": "integer"},
            "process_key": {"type": "string"},
            "version": {"type": "integer"},
            "definition_id": {"type": "integer"},
            "case_id": {"type": ["integer", "null"]},
            "status": {"enum": ["running", "completed", "incident", "cancelled"]},
            "started_at": DATETIME,
            "completed_at": DATETIME,
            "next_timer_due_at": DATETIME,
            "incident_message": NULLABLE_STRING,
            "open_tasks": {"type": "array", "items": _ref("Task")},
        },
    },
})

PATHS.update({
    "/api/v1/process-definitions": {
        "get": {
            "operationId": "listProcessDefinitions", "tags": ["process-definitions"],
            "summary": "Process keys with their versions and live version (designers and admins)",
            "parameters": [ACCEPT_LANGUAGE],
            "responses": {"200": _json(_ref("ProcessDefinitionList"), "The processes."), **_errors(401, 403)},
        },
        "post": {
            "operationId": "deployProcessDefinition", "tags": ["process-definitions"],
            "summary": "Validate and deploy a .bpmn file as a new version (designers and admins)",
            "parameters": [ACCEPT_LANGUAGE, {
                "name": "confirm", "in": "query", "required": False, "schema": {"type": "boolean"},
                "description": "Deploy even when a process id is the key of an unrelated deployed process "
                               "(it becomes that process's next version).",
            }],
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {"type": "object", "required": ["file"],
                                   "properties": {"file": {"type": "string", "format": "binary"}}},
                    },
                    "application/json": {"schema": _ref("DiagramUpload")},
                },
            },
            "responses": {
                "201": _json(_ref("DeployResult"), "New version(s) deployed."),
                "200": _json(_ref("DeployResult"), "Identical content: the existing version(s)."),
                "422": {"$ref": "#/components/responses/DefinitionInvalid"},
                "409": {"$ref": "#/components/responses/ConfirmationRequired"},
                **_errors(400, 401, 403, 413),
            },
        },
    },
    "/api/v1/process-definitions/{key}/start": {
        "post": {
            "operationId": "startProcess", "tags": ["process-definitions"],
            "summary": "Start the live version by hand: only a process whose diagram allows it (its start event's "
                       "manualStart names who may), with data its start form validates; 403 for processes the "
                       "application starts itself (cases, schedules, messages)",
            "parameters": [KEY, ACCEPT_LANGUAGE],
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("StartRequest")}}},
            "responses": {
                "201": {**_json(_ref("StartedInstance"), "The new instance."),
                        "headers": {"Location": {"schema": {"type": "string"}}}},
                "200": _json(_ref("StartedInstance"), "An idempotent start (the weekly assessment of a week "
                                                      "started already): the existing instance."),
                **_errors(400, 401, 403, 404, 413, 422),
            },
        }
    },
    "/api/v1/assessments": {
        "post": {
            "operationId": "startAssessment", "tags": ["assessments"],
            "summary": "Start the weekly assessment of a week that has ended, e.g. after downtime (the head of "
                       "Quality and admins, as the diagram's manualStart says); once per ISO week",
            "parameters": [ACCEPT_LANGUAGE],
            "requestBody": {"required": True,
                            "content": {"application/json": {"schema": _ref("AssessmentStart")}}},
            "responses": {
                "201": {**_json(_ref("StartedAssessment"), "Started; its rows computed from the tasks."),
                        "headers": {"Location": {"schema": {"type": "string"}}}},
                "200": _json(_ref("StartedAssessment"), "The week had been started already: its instance."),
                **_errors(400, 401, 403, 404, 413, 422),
            },
        }
    },
    "/api/v1/instances/{instance_id}": {
        "get": {
            "operationId": "getInstance", "tags": ["process-definitions"],
            "summary": "An instance's status, open tasks, next timer and incident (designers, admins, managers, "
                       "auditors)",
            "parameters": [INSTANCE_ID, ACCEPT_LANGUAGE],
            "responses": {"200": _json(_ref("Instance"), "The instance."), **_errors(401, 403, 404)},
        }
    },
})


REPORT_METRICS = ("volumes", "pareto_causes", "pareto_models", "cycle_times", "on_time", "ageing", "satisfaction",
                  "costs", "repeat_rate")
SCHEMAS["Report"] = {
    "type": "object",
    "required": ["metric", "period", "previous", "filters", "data", "table"],
    "properties": {
        "metric": {"type": "string", "enum": list(REPORT_METRICS)},
        "period": {"type": "object", "required": ["kind", "start", "end"], "properties": {
            "kind": {"type": "string", "enum": ["week", "month", "quarter", "custom"]},
            "start": {"type": "string", "format": "date"}, "end": {"type": "string", "format": "date"}}},
        "previous": {"type": "object", "required": ["start", "end"], "description": "The period compared with",
                     "properties": {"start": {"type": "string", "format": "date"},
                                    "end": {"type": "string", "format": "date"}}},
        "filters": {"type": "object", "additionalProperties": {"type": "string"}},
        "data": {"type": "object", "description": "The metric's figures (keys, labels in the caller's language, "
                                                  "counts, rates in %, hours, money as strings); see the README"},
        "table": {"type": "object", "required": ["columns", "rows"], "description": "The figures as a table "
                  "(what the dashboard's Excel and CSV downloads hold)", "properties": {
                      "columns": {"type": "array", "items": {"type": "string"}},
                      "rows": {"type": "array", "items": {"type": "array"}}}},
    },
}
PATHS["/api/v1/reports/{metric}"] = {
    "get": {
        "operationId": "getReport", "tags": ["reports"],
        "summary": "One metric of the analysis dashboard for a period (General Manager, Quality, admins; "
                   "department heads for their own departments)",
        "description": "Periods: week, month or quarter containing `start` (default today), or custom "
                       "`start`..`end` (at most three years). Filters narrow the cases; `department` is a "
                       "department code (cases where it has or had a task).",
        "parameters": [
            {"name": "metric", "in": "path", "required": True,
             "schema": {"type": "string", "enum": list(REPORT_METRICS)}},
            {"name": "period", "in": "query", "required": False,
             "schema": {"type": "string", "enum": ["week", "month", "quarter", "custom"], "default": "month"}},
            {"name": "start", "in": "query", "required": False, "schema": {"type": "string", "format": "date"}},
            {"name": "end", "in": "query", "required": False, "description": "custom periods only",
             "schema": {"type": "string", "format": "date"}},
            *({"name": name, "in": "query", "required": False, "schema": {"type": "string", "maxLength": 120}}
              for name in ("department", "product_model", "feedback_type", "category", "channel")),
            ACCEPT_LANGUAGE,
        ],
        "responses": {"200": _json(_ref("Report"), "The metric."), **_errors(400, 401, 403, 404)},
    }
}
# ---------------------------------------------------------------------------- case comments

SCHEMAS.update({
    "Comment": {
        "type": "object",
        "required": ["id", "case_id", "author", "author_name", "body", "internal", "mentions", "created_at"],
        "properties": {
            "id": {"type": "integer"}, "case_id": {"type": "integer"},
            "author": {"type": ["string", "null"]}, "author_name": {"type": ["string", "null"]},
            "body": {"type": "string"},
            "internal": {"type": "boolean", "description": "An internal note, never to be passed on to the customer"},
            "mentions": {"type": "array", "items": {"type": "string"}, "description": "The users notified"},
            "created_at": {"type": "string", "format": "date-time"},
            "not_notified": {"type": "array", "items": {"type": "string"},
                             "description": "@names that notified nobody (unknown, or may not see the case)"},
        },
    },
    "NewComment": {
        "type": "object", "required": ["body"], "additionalProperties": False,
        "properties": {
            "body": {"type": "string", "minLength": 1, "maxLength": 5000,
                     "description": "The text; @username notifies that user if they may see the case"},
            "internal": {"type": "boolean", "default": True},
        },
    },
})

PATHS.update({
    "/api/v1/cases/{case_id}/comments": {
        "get": {
            "operationId": "listCaseComments", "tags": ["cases"], "summary": "A case's comments, oldest first",
            "parameters": [CASE_ID, ACCEPT_LANGUAGE],
            "responses": {
                "200": _json({"type": "object", "required": ["comments"],
                              "properties": {"comments": {"type": "array", "items": _ref("Comment")}}},
                             "The comments."),
                **_errors(401, 403, 404),
            },
        },
        "post": {
            "operationId": "addCaseComment", "tags": ["cases"],
            "summary": "Comment on a case (whoever may see it); mentioned users are notified",
            "parameters": [CASE_ID, ACCEPT_LANGUAGE],
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("NewComment")}}},
            "responses": {
                "201": {**_json(_ref("Comment"), "The new comment."),
                        "headers": {"Location": {"schema": {"type": "string"}}}},
                **_errors(400, 401, 403, 404, 413, 422),
            },
        },
    },
})
CASE_REF = {"type": ["object", "null"], "required": ["id", "number"],
            "properties": {"id": {"type": "integer"}, "number": {"type": "string"}}}
SCHEMAS["Alert"] = {
    "type": "object",
    "description": "A cluster of cases matching on one dimension; Quality is alerted once, when it reaches the "
                   "threshold within the window, and later matching cases join it.",
    "required": ["id", "dimension", "key", "status", "case_count", "cases"],
    "properties": {
        "id": {"type": "integer"},
        "dimension": {"enum": ["model", "batch", "serial", "serial_prefix"]},
        "key": {"type": "string", "description": "The product model, batch, serial number or serial prefix."},
        "status": {"enum": ["open", "acknowledged"]},
        "case_count": {"type": "integer"},
        "threshold": {"type": "integer", "description": "Cases within the window when the cluster formed."},
        "window_days": {"type": "integer"},
        "first_case": CASE_REF,
        "last_case": CASE_REF,
        "linked_case": CASE_REF,
        "first_at": DATETIME,
        "last_at": DATETIME,
        "alerted_at": DATETIME,
        "acknowledged_at": DATETIME,
        "note": NULLABLE_STRING,
        "cases": {"type": "array", "items": {"type": "string"}, "description": "Case numbers, oldest first."},
    },
}
PATHS["/api/v1/alerts"] = {
    "get": {
        "operationId": "listAlerts", "tags": ["alerts"],
        "summary": "Alerts on repeated problems, latest activity first (Quality, the General Manager, admins, "
                   "auditors)",
        "parameters": [
            {"name": "status", "in": "query", "required": False, "schema": {"enum": ["open", "acknowledged"]}},
            {"name": "dimension", "in": "query", "required": False,
             "schema": {"enum": ["model", "batch", "serial", "serial_prefix"]}},
            {"name": "limit", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}},
            {"name": "offset", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 0, "maximum": 1000000000, "default": 0}},
            ACCEPT_LANGUAGE,
        ],
        "responses": {
            "200": _json({"type": "object", "required": ["total", "limit", "offset", "alerts"], "properties": {
                "total": {"type": "integer"}, "limit": {"type": "integer"}, "offset": {"type": "integer"},
                "alerts": {"type": "array", "items": _ref("Alert")}}}, "One page of alerts."),
            **_errors(400, 401, 403),
        },
    }
}


DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Customer feedback BPM — API",
        "version": "1.0.0",
        "description": "Cases, tasks and the audit trail of the customer feedback process. "
                       "Obtain a token with POST /api/v1/auth/token and send it as `Authorization: Bearer <token>`. "
                       "Every error answers {\"error\": {\"status\", \"message\", ...}}.",
    },
    "servers": [{"url": "/"}],
    "security": [{"bearerAuth": []}],
    "tags": [{"name": name} for name in ("meta", "auth", "cases", "tasks", "audit", "assessments",
                                         "process-definitions", "reports", "alerts")],
    "paths": PATHS,
    "components": {
        "securitySchemes": {
            "bearerAuth": {"type": "http", "scheme": "bearer", "description": "POST /api/v1/auth/token"},
        },
        "schemas": SCHEMAS,
        "responses": {
            name: _json(_ref("Error"), description) for name, description in ERROR_RESPONSES.values()
        },
    },
}

DOCUMENT["components"]["responses"]["DefinitionInvalid"] = _json(
    _ref("DefinitionProblems"), "The diagram is invalid; nothing was deployed. error.problems names the elements."
)
DOCUMENT["components"]["responses"]["ConfirmationRequired"] = _json(
    _ref("Error"), "A process id is the key of an unrelated deployed process: error.code is confirmation_required, "
    "error.processes lists them (key, live_version, shared_elements); send again with ?confirm=true to deploy anyway."
)


def document(intake: dict[str, Any] | None = None) -> dict[str, Any]:
    """The document; the case intake's request schema generated from the deployed intake form
    (``intake``), the very definition that validates ``POST /api/v1/cases``."""
    if intake is None:
        return DOCUMENT
    result = copy.deepcopy(DOCUMENT)
    result["components"]["schemas"]["CaseIntake"] = json_schema(intake)
    return result


@bp.get("/openapi.json")
@endpoint(auth=False)
def openapi_json():
    """The OpenAPI 3.1 document of this API."""
    try:
        intake = form_service.definition_by_key(db.session, INTAKE_FORM)
    except NotFound:
        intake = None
    return jsonify(document(intake))
