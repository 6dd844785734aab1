"""Answers with a body of ?bytes=N bytes (response payload limit)."""

from __future__ import annotations

from typing import Any


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    size = int((event.get("queryStringParameters") or {}).get("bytes", "10"))
    return {"statusCode": 200, "headers": {"Content-Type": "text/plain"}, "body": "x" * size}
