"""API Gateway REQUEST authorizer: a valid access JWT of an active user → Allow, with the principal as context.

Contract (API Gateway Lambda authorizers): ``raise Exception("Unauthorized")``
makes the gateway answer 401; a Deny policy makes it answer 403. The Allow
policy covers every route of the stage so a cached decision (keyed on the
Authorization header) serves the caller's next requests to other routes too.

Deliberately free of the HTTP resolver: it runs in front of every request.
"""

from __future__ import annotations

import logging
from typing import Any

from smartcourse.observability import observed

log = logging.getLogger(__name__)
UNAUTHORIZED = "Unauthorized"


def _bearer_token(event: dict[str, Any]) -> str | None:
    headers = event.get("headers") or {}
    value = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
    if not value or not isinstance(value, str):
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _has_authorization_header(event: dict[str, Any]) -> bool:
    return any(k.lower() == "authorization" for k in (event.get("headers") or {}))


def stage_wildcard_arn(method_arn: str) -> str:
    """``arn:aws:execute-api:region:acct:apiId/stage/VERB/path`` → ``arn:aws:execute-api:region:acct:apiId/stage/*``."""
    arn_prefix, _, resource = method_arn.partition("/")
    stage = resource.split("/", 1)[0] if resource else "*"
    return f"{arn_prefix}/{stage or '*'}/*"


def policy(principal_id: str, effect: str, resource: str, context: dict[str, str] | None = None) -> dict[str, Any]:
    document: dict[str, Any] = {
        "principalId": principal_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
    }
    if context is not None:
        document["context"] = context
    return document


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from smartcourse.errors import Forbidden, Unauthorized
    from smartcourse_lms.auth.domain import ANONYMOUS_PRINCIPAL_ID
    from smartcourse_lms.auth.service import get_auth_service

    token = _bearer_token(event)
    resource = stage_wildcard_arn(str(event.get("methodArn", "")))
    if token is None:
        if _has_authorization_header(event):
            raise Exception(UNAUTHORIZED)  # a malformed header is an error even where anyone may call
        # Only the optional authorizer (no identity source, so API Gateway invokes it without a token)
        # gets here: the caller is anonymous and the function decides what an anonymous caller sees.
        return policy(ANONYMOUS_PRINCIPAL_ID, "Allow", resource,
                      {"user_id": "", "roles": "", "email": "", "token_id": ""})
    try:
        claims, user = get_auth_service().authenticate(token)
    except Unauthorized:
        raise Exception(UNAUTHORIZED) from None
    except Forbidden:
        log.info("denied a blocked user")
        return policy("blocked", "Deny", resource)
    roles = ",".join(r.value for r in user.roles)
    return policy(str(user.id), "Allow", resource,
                  {"user_id": str(user.id), "roles": roles, "email": user.email, "token_id": claims.token_id})
