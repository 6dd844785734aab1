"""GET /openapi.json and GET /docs (Swagger UI, served offline) of one API.

The document is the API's exported one (``make openapi``; shipped in the code asset as
``openapi/<service>.json``), so serving it imports no handler. Its server URL is the base URL the request
came in on: the stage's invoke URL (``https://{id}.execute-api.../{stage}``), a custom domain with its base
path, or the local gateway's own address, so "Try it out" and generated clients reach the operations.
"""

from __future__ import annotations

import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from smartcourse.observability import observed

_SWAGGER_ASSETS = {
    "/docs.js": ("swagger-ui-bundle.min.js", "application/javascript"),
    "/docs.css": ("swagger-ui.min.css", "text/css"),
}
CODE_ROOT = Path(__file__).resolve().parents[1]
_HOST = re.compile(r"[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?")
_PREFIX = re.compile(r"(/[A-Za-z0-9._~-]+)*")
# This handler has no resolver; its operations, for the API's document (the Swagger UI's assets are not API).
OPENAPI_PATHS: dict[str, Any] = {
    "/openapi.json": {"get": {
        "summary": "This API's OpenAPI document", "operationId": "openapi",
        "responses": {"200": {"description": "The document, its server URL the one the request came in on",
                              "content": {"application/json": {"schema": {"type": "object"}}}}},
    }},
    "/docs": {"get": {
        "summary": "Swagger UI for this API (served offline)", "operationId": "docs",
        "responses": {"200": {"description": "An HTML page", "content": {"text/html": {"schema": {"type": "string"}}}}},
    }},
}


def document_path(service: str) -> Path:
    """Where the code asset holds the API's document (the repository's docs/openapi/ when run from source)."""
    for base in (CODE_ROOT / "openapi", CODE_ROOT.parent / "docs" / "openapi"):
        candidate = base / f"{service}.json"
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"no OpenAPI document for {service}")


@lru_cache(maxsize=1)
def _template() -> dict[str, Any]:
    document = json.loads(document_path(os.environ.get("SERVICE_NAME", "lms")).read_text(encoding="utf-8"))
    if not isinstance(document, dict):
        raise ValueError("the OpenAPI document is not an object")
    return document


@lru_cache(maxsize=8)
def _document(server_url: str) -> str:
    return json.dumps({**_template(), "servers": [{"url": server_url}]})


def _header(event: dict[str, Any], name: str) -> str | None:
    headers = event.get("headers") or {}
    return next((str(v) for k, v in headers.items() if k.lower() == name and v), None)


def server_url(event: dict[str, Any]) -> str:
    """The base URL of the request: scheme and host as the client used them, plus the stage or base path.

    API Gateway's ``requestContext.path`` is the path the client sent (``/dev/openapi.json`` on the
    execute-api host, ``/v1/openapi.json`` under a custom domain's base path ``v1``); ``resource`` is the
    route's own path (``/openapi.json``: the docs routes have no parameters). What precedes it is the prefix
    every operation of the API answers under. Only a plain host name and http/https are taken from the
    request's headers (the URL ends up in a page's script).
    """
    context = event.get("requestContext") or {}
    full_path = str(context.get("path") or event.get("path") or "")
    resource = str(event.get("resource") or event.get("path") or "")
    prefix = full_path[: -len(resource)] if resource and full_path.endswith(resource) else ""
    if not _PREFIX.fullmatch(prefix):
        prefix = ""
    host = _header(event, "host") or str(context.get("domainName") or "")
    if not _HOST.fullmatch(host):
        return prefix or "/"
    scheme = (_header(event, "x-forwarded-proto") or "https").split(",")[0].strip().lower()
    return f"{scheme if scheme in ('http', 'https') else 'https'}://{host}{prefix}"


def _swagger_dir() -> Path:
    from aws_lambda_powertools.event_handler.openapi import swagger_ui

    return Path(swagger_ui.__file__).parent


def _page(spec: str) -> str:
    from aws_lambda_powertools.event_handler.openapi.swagger_ui.html import generate_swagger_html

    # Relative asset links keep working under a stage prefix.
    # The document goes into an inline script: no "</script>" may end it early.
    return generate_swagger_html(spec.replace("<", "\\u003c"), "docs.js", "docs.css", swagger_base_url="docs",
                                 oauth2_config=None)


@observed
def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    resource = event.get("resource") or event.get("path") or ""
    if resource in _SWAGGER_ASSETS:
        filename, content_type = _SWAGGER_ASSETS[resource]
        body = (_swagger_dir() / filename).read_text(encoding="utf-8")
        headers = {"Content-Type": content_type, "Cache-Control": "public, max-age=86400"}
        return {"statusCode": 200, "headers": headers, "body": body}
    spec = _document(server_url(event))
    if resource == "/docs":
        return {"statusCode": 200, "headers": {"Content-Type": "text/html; charset=utf-8"}, "body": _page(spec)}
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": spec}
