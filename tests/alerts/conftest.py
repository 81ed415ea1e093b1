"""The production diagrams driven over HTTP (tests/process_http) and the local SMTP server (tests/timers)."""

from tests.process_http.conftest import flow, prod_app  # noqa: F401 - fixtures
from tests.timers.conftest import smtp_port, smtp_server  # noqa: F401 - fixtures
