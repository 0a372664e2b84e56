"""The OpenAPI document, made to say what the server really does (docs/api.md is its prose).

FastAPI writes most of it from the routes. This adds what it cannot know: the errors every route
shares (as `{"detail": "<sentence>"}`, including 422), the API-key security schemes, limits that
are settings (VIDSEEK_MAX_QUERY_CHARS), and the bodies the search and upload routes read by hand.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from vidseek.serve.schemas import REASONS, ErrorOut, SearchJSON
from vidseek.settings import Settings

_SHARED = (400, 421, 422, 429, 503)  # any route: domain errors, Host refused, validation, rate, store down
_PUBLIC = {("get", "/api/health"), ("post", "/api/session"), ("delete", "/api/session")}
_SECURITY = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "an API key from `vidseek keys create`"},
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    "session": {"type": "apiKey", "in": "cookie", "name": "vidseek_session",
                "description": "set by POST /api/session (the web page)"},
}


def install(app: FastAPI, settings: Settings) -> None:
    """Replace `app.openapi` with one that builds the completed document once."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            complete(schema, settings)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def complete(schema: dict[str, Any], settings: Settings) -> None:
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["ErrorOut"] = ErrorOut.model_json_schema()
    search_in = SearchJSON.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(search_in.pop("$defs", {}))
    schemas["SearchJSON"] = search_in
    components["securitySchemes"] = _SECURITY
    for name, field in (("SearchJSON", "q"), ("AskIn", "question")):
        _limit_text(schemas[name]["properties"][field], settings.max_query_chars)
    for path, item in schema.get("paths", {}).items():
        for method, op in item.items():
            if not path.startswith("/api/"):
                continue
            responses = op.setdefault("responses", {})
            codes = _SHARED if (method, path) in _PUBLIC else (*_SHARED, 401)
            for code in codes:
                responses[str(code)] = {"description": REASONS.get(code, "error")}
            for code, response in responses.items():
                if code.startswith(("4", "5")):  # the routes' own errors(...) too: one ErrorOut, not copies
                    response["content"] = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
            if (method, path) not in _PUBLIC:
                op["security"] = [{"bearer": []}, {"apiKey": []}, {"session": []}]
            for param in op.get("parameters", []):
                if param.get("name") == "q" and param.get("in") == "query":
                    _limit_text(param["schema"], settings.max_query_chars)


def _limit_text(field: dict[str, Any], max_chars: int) -> None:
    """maxLength on a string field, also when it is `anyOf: [string, null]`."""
    for option in field.get("anyOf", [field]):
        if option.get("type") == "string":
            option["maxLength"] = max_chars

