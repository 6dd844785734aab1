"""Internal (no HTTP route): mint the clear one-time token behind an event's ``*_token_ref``.

Events never carry tokens in clear text; they carry the token row's id. The
notification service invokes this function (IAM-restricted Lambda invoke) to
obtain a usable token right before it sends the mail. Only a hash is stored,
so each call re-keys the row and an earlier token stops working.

Event: ``{"purpose": "email_verification" | "password_reset", "token_ref": "<uuid>"}``
Result: ``{"token": "..."}`` or ``{"error": "..."}`` for an unknown, used or expired reference.
"""

from __future__ import annotations

import uuid
from typing import Any

from smartcourse.errors import NotFound
from smartcourse.observability import observed
from smartcourse_lms.deferred import get_auth_service

PURPOSES = ("email_verification", "password_reset")


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    purpose = event.get("purpose")
    try:
        token_ref = uuid.UUID(str(event.get("token_ref")))
    except ValueError:
        return {"error": "token_ref must be a UUID"}
    if purpose not in PURPOSES:
        return {"error": f"purpose must be one of {', '.join(PURPOSES)}"}
    service = get_auth_service()
    try:
        if purpose == "email_verification":
            return {"token": service.issue_verification_token(token_ref)}
        return {"token": service.issue_reset_token(token_ref)}
    except NotFound as exc:
        return {"error": str(exc)}
