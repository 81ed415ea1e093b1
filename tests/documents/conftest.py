from tests.process_http.conftest import flow, prod_app  # noqa: F401 - the production diagrams driven over HTTP
