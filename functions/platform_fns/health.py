"""GET /health on every API: answers without auth and without touching the database."""

from __future__ import annotations

import json
import os
from typing import Any


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    body = {"status": "ok", "service": os.environ.get("SERVICE_NAME", "unknown")}
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}
