"""Realistic API Gateway REST (v1 proxy) events, as the gateway sends them to a function."""

from __future__ import annotations

import base64
import json
import re
import uuid
from typing import Any

from smartcourse.catalogue import Function


def rest_event(
    fn: Function,
    *,
    path_params: dict[str, str] | None = None,
    body: Any = None,
    raw_body: str | bytes | None = None,
    content_type: str | None = "application/json",
    query: dict[str, str] | None = None,
    principal: tuple[str, str] | None = None,
    source_ip: str = "203.0.113.10",
    base64_body: bool = False,
    headers: dict[str, str] | None = None,
    stage: str = "dev",
) -> dict[str, Any]:
    """The event for ``fn``'s route; ``principal=(user_id, "student,admin")`` adds the authorizer context."""
    route = fn.route
    path_params = path_params or {}
    path = re.sub(r"\{(\w+)\}", lambda m: path_params[m.group(1)], route.path)
    if raw_body is None and body is not None:
        raw_body = json.dumps(body)
    text: str | None
    if isinstance(raw_body, bytes):
        text = base64.b64encode(raw_body).decode() if base64_body else raw_body.decode("utf-8", "replace")
    elif raw_body is not None and base64_body:
        text = base64.b64encode(raw_body.encode()).decode()
    else:
        text = raw_body
    all_headers = {"Host": "api.example.test", "User-Agent": "pytest", "Accept": "application/json",
                   **({"Content-Type": content_type} if content_type else {}), **(headers or {})}
    request_context: dict[str, Any] = {
        "resourcePath": route.path,
        "httpMethod": route.method,
        "path": f"/{stage}{path}",
        "stage": stage,
        "requestId": str(uuid.uuid4()),
        "accountId": "123456789012",
        "apiId": "abcdef1234",
        "protocol": "HTTP/1.1",
        "requestTimeEpoch": 1_700_000_000_000,
        "identity": {"sourceIp": source_ip, "userAgent": "pytest"},
    }
    if principal is not None:
        request_context["authorizer"] = {"principalId": principal[0], "user_id": principal[0],
                                         "roles": principal[1], "integrationLatency": 12}
    return {
        "resource": route.path,
        "path": path,
        "httpMethod": route.method,
        "headers": all_headers,
        "multiValueHeaders": {k: [v] for k, v in all_headers.items()},
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": path_params or None,
        "stageVariables": None,
        "requestContext": request_context,
        "body": text,
        "isBase64Encoded": base64_body,
    }


def authorizer_event(token: str | None, *, header: str = "Authorization",
                     method_arn: str = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/dev/GET/api/v1/auth/me",
                     ) -> dict[str, Any]:
    headers = {header: f"Bearer {token}"} if token is not None else {}
    return {"type": "REQUEST", "methodArn": method_arn, "resource": "/api/v1/auth/me", "path": "/api/v1/auth/me",
            "httpMethod": "GET", "headers": headers, "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "queryStringParameters": None, "pathParameters": None, "stageVariables": None,
            "requestContext": {"stage": "dev", "requestId": str(uuid.uuid4())}}


def body_of(response: dict[str, Any]) -> Any:
    raw = response.get("body")
    return json.loads(raw) if raw else None
