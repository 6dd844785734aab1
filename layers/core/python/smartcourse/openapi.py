"""One OpenAPI document per API, merged from the route definitions of its functions.

Each endpoint is its own Lambda with its own Powertools resolver, so the
service's document is the union of what every handler module declares. The
caller (the export tool, ``stacks.openapi_export``) says which functions an API
serves; the exported document is what each API's docs function serves.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import Any

from smartcourse.catalogue import Function, Service
from smartcourse.idempotency import EXPIRES_AFTER_SECONDS, HEADER, MAX_KEY_LENGTH, REPLAYED_HEADER, is_mutating

TITLES = {
    Service.LMS: "SmartCourse LMS API",
    Service.AI: "SmartCourse AI API",
    Service.ANALYTICS: "SmartCourse Analytics API",
}
API_VERSION = "1.0.0"
BEARER = {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}
# Every mutating operation takes it (smartcourse.idempotency; its statuses are in each route's responses).
IDEMPOTENCY_KEY_PARAMETER: dict[str, Any] = {
    "name": HEADER,
    "in": "header",
    "required": False,
    "description": (
        f"Makes a retry safe: the same key with the same request within {EXPIRES_AFTER_SECONDS // 3600} hours "
        f"answers the first response again (header `{REPLAYED_HEADER}: true`) without acting twice; 409 while "
        "the first is still running; 422 when the key was used with another request. Scoped to the caller."
    ),
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH, "pattern": "^[!-~]+$"},
}


def build_openapi(service: Service, functions: Iterable[Function], server_url: str = "/") -> dict[str, Any]:
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": TITLES.get(service, f"SmartCourse {service} API"), "version": API_VERSION},
        "servers": [{"url": server_url}],
        "paths": {},
        "components": {"schemas": {}, "securitySchemes": BEARER},
    }
    for fn in functions:
        module = importlib.import_module(fn.module)
        if hasattr(module, "app"):
            part = module.app.get_openapi_schema(title=document["info"]["title"], version=API_VERSION).model_dump(
                mode="json", by_alias=True, exclude_none=True
            )
        else:  # a handler without a resolver (health, docs) declares its operations itself
            part = {"paths": module.OPENAPI_PATHS}
        for path, operations in part.get("paths", {}).items():
            if all(r.authorized for r in fn.routes):
                # Routes open to anyone take a token optionally (an empty requirement means "none").
                security: list[dict[str, list[str]]] = [{"bearerAuth": []}]
                if all(r.anonymous for r in fn.routes):
                    security = [{}, *security]
                for operation in operations.values():
                    operation.setdefault("security", security)
            for method, operation in operations.items():
                if is_mutating(method):
                    parameters = operation.setdefault("parameters", [])
                    if not any(p.get("name") == HEADER and p.get("in") == "header" for p in parameters):
                        parameters.append(IDEMPOTENCY_KEY_PARAMETER)
            document["paths"].setdefault(path, {}).update(operations)
        document["components"]["schemas"].update(part.get("components", {}).get("schemas", {}))
    document["paths"] = dict(sorted(document["paths"].items()))
    document["components"]["schemas"] = dict(sorted(document["components"]["schemas"].items()))
    return document
