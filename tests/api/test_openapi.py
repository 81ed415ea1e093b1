"""The OpenAPI document describes every route of the API blueprint, and only those."""

from __future__ import annotations

import re

HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


def _api_routes(app) -> set[tuple[str, str]]:
    routes = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1"):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes.add((path, method.lower()))
    return routes


def _documented(document) -> set[tuple[str, str]]:
    return {(path, method) for path, item in document["paths"].items() for method in item if method in HTTP_METHODS}


def test_every_route_is_documented_and_nothing_else(app, client):
    document = client.get("/api/v1/openapi.json").get_json()
    routes = _api_routes(app)
    assert len(routes) >= 11
    assert routes == _documented(document)


def test_document_is_well_formed(client):
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"] == "3.1.0"
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "description": "POST /api/v1/auth/token"}
    assert document["security"] == [{"bearerAuth": []}]
    public = {p for p, item in document["paths"].items() for op in item.values() if op.get("security") == []}
    assert public == {"/api/v1/health", "/api/v1/openapi.json", "/api/v1/auth/token"}

    def refs(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref":
                    yield value
                else:
                    yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    for ref in refs(document):
        target = document
        for part in ref.removeprefix("#/").split("/"):
            assert part in target, ref
            target = target[part]

    operation_ids = []
    for path, item in document["paths"].items():
        declared_in_path = set(re.findall(r"{([^}]+)}", path))
        for method, operation in item.items():
            operation_ids.append(operation["operationId"])
            in_path = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert in_path == declared_in_path, (path, method)
            assert "200" in operation["responses"] or "201" in operation["responses"]
            if operation.get("security") != []:
                assert "401" in operation["responses"], (path, method)
            for code, response in operation["responses"].items():
                if code.startswith(("4", "5")):
                    assert response["$ref"].startswith("#/components/responses/")
    assert len(operation_ids) == len(set(operation_ids))
