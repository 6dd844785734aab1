"""GET /openapi.json and GET /docs (Swagger UI, served offline) of one API."""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

_SWAGGER_ASSETS = {
    "/docs.js": ("swagger-ui-bundle.min.js", "application/javascript"),
    "/docs.css": ("swagger-ui.min.css", "text/css"),
}


@lru_cache(maxsize=2)
def _document(server_url: str) -> str:
    # Imported on first use: building the document imports every handler of the API.
    from smartcourse.catalogue import Service
    from smartcourse.openapi import build_openapi

    return json.dumps(build_openapi(Service(os.environ.get("SERVICE_NAME", "lms")), server_url))


def _swagger_dir() -> Path:
    from aws_lambda_powertools.event_handler.openapi import swagger_ui

    return Path(swagger_ui.__file__).parent


def _server_url(event: dict[str, Any]) -> str:
    # Behind a real stage the public path carries the stage prefix; the local gateway serves at the root.
    context = event.get("requestContext") or {}
    stage = context.get("stage", "")
    return f"/{stage}" if stage and str(context.get("path", "")).startswith(f"/{stage}/") else "/"


def _page(spec: str) -> str:
    from aws_lambda_powertools.event_handler.openapi.swagger_ui.html import generate_swagger_html

    # Relative asset links keep working under a stage prefix.
    return generate_swagger_html(spec, "docs.js", "docs.css", swagger_base_url="docs", oauth2_config=None)


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    resource = event.get("resource") or event.get("path") or ""
    if resource in _SWAGGER_ASSETS:
        filename, content_type = _SWAGGER_ASSETS[resource]
        body = (_swagger_dir() / filename).read_text(encoding="utf-8")
        headers = {"Content-Type": content_type, "Cache-Control": "public, max-age=86400"}
        return {"statusCode": 200, "headers": headers, "body": body}
    spec = _document(_server_url(event))
    if resource == "/docs":
        return {"statusCode": 200, "headers": {"Content-Type": "text/html; charset=utf-8"}, "body": _page(spec)}
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": spec}
