"""POST /auth/login: OAuth2 password form (``username``/``password``) or JSON ``{email, password}``.

The body is decoded here rather than by the resolver's validation because one
route takes two content types.
"""

import json
from typing import Any
from urllib.parse import parse_qs

from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from pydantic import ValidationError
from smartcourse.http import make_resolver, route, source_ip
from smartcourse.observability import observed
from smartcourse_lms.auth.schemas import LoginRequest, TokenOut
from smartcourse_lms.catalogue import function
from smartcourse_lms.deferred import get_auth_service

FUNCTION = function("lms-auth-login")
app = make_resolver()
FORM = "application/x-www-form-urlencoded"


def _credentials() -> LoginRequest:
    event = app.current_event
    content_type = (event.headers.get("content-type") or event.headers.get("Content-Type") or "").split(";")[0]
    raw = event.decoded_body or ""
    data: Any
    if content_type.strip().lower() == FORM:
        form = parse_qs(raw, keep_blank_values=True)
        data = {name: form[key][0] for name, key in (("email", "username"), ("password", "password")) if key in form}
    elif raw.strip():
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise RequestValidationError([{"type": "json_invalid", "loc": ("body",), "msg": exc.msg}]) from None
        if isinstance(data, dict) and "email" not in data and "username" in data:
            data = {**data, "email": data["username"]}
    else:
        data = None
    try:
        return LoginRequest.model_validate(data)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_input=False, include_url=False)]
        raise RequestValidationError(errors) from None


@route(app, FUNCTION, response_model=TokenOut, errors=(400, 401, 403, 429),
       description="Form-urlencoded `username`/`password` (OAuth2 password grant) or JSON `{email, password}`. "
                   "Unknown email and wrong password get the same 401; repeated failures per email or source IP "
                   "are throttled with 429 and `Retry-After`.")
def login() -> TokenOut:
    credentials = _credentials()
    pair = get_auth_service().login(credentials.email, credentials.password, source_ip(app))
    return TokenOut(access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in)


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
