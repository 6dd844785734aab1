"""GET /health on every API: answers without auth and without touching the database."""

from __future__ import annotations

import json
import os
from typing import Any

from smartcourse.observability import observed

# This handler has no resolver (it answers before anything else loads); its operation, for the API's document.
OPENAPI_PATHS: dict[str, Any] = {
    "/health": {"get": {
        "summary": "Liveness of the API",
        "operationId": "health",
        "responses": {"200": {"description": "The API answers", "content": {"application/json": {"schema": {
            "type": "object", "required": ["status", "service"],
            "properties": {"status": {"type": "string", "enum": ["ok"]}, "service": {"type": "string"}},
        }}}}},
    }},
}


@observed
def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    body = {"status": "ok", "service": os.environ.get("SERVICE_NAME", "unknown")}
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}
