"""The generated OpenAPI document and the self-hosted docs page."""
from __future__ import annotations

import re

from tests.conftest import register_api

ERROR_REF = {"$ref": "#/components/schemas/Error"}
PUBLIC = {("post", "/api/v1/auth/register"), ("post", "/api/v1/auth/login")}
METHODS = ("get", "post", "put", "patch", "delete")


def _operations(spec):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method, path, operation


def _response_schema(spec, response):
    if "$ref" in response:
        response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    return response["content"]["application/json"]["schema"]


def test_the_document_describes_every_api_route_with_security_and_errors(app, client) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
        "description": spec["components"]["securitySchemes"]["bearerAuth"]["description"]}
    error = spec["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    body = spec["components"]["schemas"]["ErrorBody"]
    assert set(body["properties"]) == {"code", "message", "details", "request_id"}

    documented = {(m, p) for m, p, _ in _operations(spec)}
    routes = {(m.lower(), re.sub(r"<(?:\w+(?:\([^)]*\))?:)?(\w+)>", r"{\1}", rule.rule))
              for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/v1/")
              and not rule.rule.endswith("openapi.json") for m in rule.methods if m.lower() in METHODS}
    assert routes == documented, f"undocumented: {routes - documented}; stale: {documented - routes}"

    for method, path, operation in _operations(spec):
        responses = operation["responses"]
        assert any(code.startswith("2") for code in responses), f"{method} {path}: no success response"
        for code in ("429", "500", "503"):
            assert _response_schema(spec, responses[code]) == ERROR_REF, f"{method} {path} {code}"
        if (method, path) in PUBLIC:
            assert "security" not in operation
        else:
            assert operation["security"] == [{"bearerAuth": []}], f"{method} {path}"
            assert _response_schema(spec, responses["401"]) == ERROR_REF
        if "{" in path:
            assert _response_schema(spec, responses["404"]) == ERROR_REF
        if operation.get("parameters") or operation.get("requestBody"):
            assert _response_schema(spec, responses["400"]) == ERROR_REF
            assert "422" not in responses or method != "get", "invalid arguments are a 400 here"
        assert _response_schema(spec, responses["default"]) == ERROR_REF


def test_secured_operations_answer_401_without_a_token_and_public_ones_do_not(client) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    for method, path, operation in _operations(spec):
        url = path.replace("{symbol}", "SAP.DE")
        url = re.sub(r"\{\w+\}", "1", url)
        response = client.open(url, method=method.upper(), json={})
        if (method, path) in PUBLIC:
            assert response.status_code == 400, f"{method} {path}: {response.status_code}"
        else:
            assert response.status_code == 401, f"{method} {path}: {response.status_code}"
            assert response.get_json()["error"]["code"] == "unauthorized"


def test_invalid_arguments_are_a_documented_400_in_the_error_shape(client) -> None:
    user = register_api(client)
    response = client.get("/api/v1/stocks/SAP.DE/history?range=10y", headers=user["headers"])
    assert response.status_code == 400
    body = response.get_json()["error"]
    assert body["code"] == "validation_error" and "range" in body["details"]["fields"]
    huge_id = client.get(f"/api/v1/watchlists/{2**40}", headers=user["headers"])
    assert huge_id.status_code == 404, "a number past any id is no id (it was a 500 before)"


def test_docs_page_is_swagger_ui_from_this_server(client) -> None:
    page = client.get("/api/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "/api/v1/openapi.json" in html
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and not [a for a in assets if a.startswith(("http:", "https:", "//"))], assets
    for asset in assets:
        if asset.startswith("/static/"):
            assert client.get(asset).status_code == 200, asset
    assert any("swagger-ui-bundle.js" in a for a in assets)


def _query_parameters(spec, path: str) -> dict:
    return {p["name"]: p for p in spec["paths"][path]["get"]["parameters"] if p["in"] == "query"}


def test_the_document_states_the_enums_bounds_and_one_of_rules(client) -> None:
    from app.analysis.periods import INTERVALS, RANGES
    from app.universe import INDEX_NAMES

    spec = client.get("/api/v1/openapi.json").get_json()
    history = _query_parameters(spec, "/api/v1/stocks/{symbol}/history")
    assert history["range"]["schema"]["enum"] == list(RANGES)
    assert history["interval"]["schema"]["enum"] == list(INTERVALS)
    assert _query_parameters(spec, "/api/v1/stocks/{symbol}/indicators")["range"]["schema"]["enum"] == list(RANGES)
    screener = _query_parameters(spec, "/api/v1/screener")
    assert screener["pe_max"]["schema"] == {"type": "number", "minimum": 0, "exclusiveMinimum": True}
    for path in ("/api/v1/screener", "/api/v1/rankings/growth", "/api/v1/stocks/{symbol}/score"):
        params = _query_parameters(spec, path)
        assert params["index"]["schema"]["enum"] == list(INDEX_NAMES), path
        for name in ("index", "country"):
            assert "not both" in params[name]["description"], f"{path} {name}: the one-of rule"

    # ... and what it states is what is enforced.
    user = register_api(client)
    get = lambda url: client.get(url, headers=user["headers"])  # noqa: E731
    assert get("/api/v1/stocks/SAP.DE/history?range=max&interval=1wk").status_code == 200
    refused = get("/api/v1/stocks/SAP.DE/history?interval=1h").get_json()["error"]
    assert refused["details"]["fields"]["interval"] == ["Must be one of: 1d, 1wk."]
    assert get("/api/v1/screener?pe_max=0").status_code == 400, "exclusive: 0 is out"
    assert get("/api/v1/screener?pe_max=0.5&index=DAX&limit=1").status_code == 200  # one index: fast
    assert get("/api/v1/screener?pe_max=1E%2B1000000").status_code == 400, "infinity is no bound"
    both = get("/api/v1/rankings/growth?index=DAX&country=Germany")
    assert both.status_code == 400 and "index" in both.get_json()["error"]["details"]["fields"]
