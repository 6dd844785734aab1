"""A REQUEST authorizer: 'Bearer allow' allows, 'Bearer deny' denies, anything else is Unauthorized.

Every invocation is recorded (the caching test counts them).
"""

from __future__ import annotations

from typing import Any

from common import record


def _policy(effect: str, event: dict[str, Any]) -> dict[str, Any]:
    arn = event["methodArn"]
    api = arn.split("/", 1)[0]  # arn:aws:execute-api:region:account:apiId
    return {"Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": f"{api}/*/GET/*"}]}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    record("authorizer_events", event)
    header = next((v for k, v in (event.get("headers") or {}).items() if k.lower() == "authorization"), "")
    token = header.removeprefix("Bearer ")
    if token.startswith("allow"):
        return {"principalId": "user-1", "policyDocument": _policy("Allow", event),
                "context": {"user_id": "user-1", "roles": "student", "admin": False, "level": 3}}
    if token == "deny":
        return {"principalId": "user-2", "policyDocument": _policy("Deny", event)}
    raise Exception("Unauthorized")
