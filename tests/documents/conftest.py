from tests.process_http.conftest import flow, prod_app  # noqa: F401 - the production diagrams driven over HTTP
from tests.timers.conftest import smtp_port, smtp_server  # noqa: F401 - a real SMTP server on this machine
