"""A bounded schemathesis run against the API document: generated requests, as the administrator (who
may reach every endpoint) and anonymously, must never get a server error nor a response the
document does not describe (status, content type, body schema, Allow header)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.checks import allow_header_conformance

from tests.api.helpers import api_token

pytestmark = pytest.mark.slow

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          allow_header_conformance]


EXAMPLES = 8  # per operation: about 150 requests in all, well under a minute


def test_generated_requests_get_documented_answers(app):
    """(The schemathesis pytest plugin does not run under this pytest; hypothesis drives it directly.)"""
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    headers = api_token(app.test_client(), "admin")
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12

    calls: list[int] = []

    def call(case) -> None:
        calls.append(1)
        try:
            case.call_and_validate(headers={**(case.headers or {}), **headers}, checks=CHECKS)
        except Exception as exc:  # noqa: BLE001 - collected, reported together below
            failures.append(f"{case.operation.method.upper()} {case.operation.path}: {str(exc)[:600]}")

    for operation in operations:
        def run(case) -> None:  # a fresh function per operation: hypothesis decorates each once
            call(case)

        given(case=operation.as_strategy())(settings(
            max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
            suppress_health_check=list(HealthCheck))(run))()
    assert len(calls) >= 4 * len(operations), len(calls)
    assert failures == [], "\n\n".join(failures[:10]) + f"\n({len(failures)} failures)"
