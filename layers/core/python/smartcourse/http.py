"""HTTP plumbing shared by every API function: the resolver, error mapping, the caller, routes from the catalogue.

Each function builds its resolver with ``make_resolver()`` and registers its
one handler with ``@route(app, FUNCTION)``; the path and method come from the
catalogue entry, never from a string in the handler module. Its Lambda entry
point is ``@observed`` (``smartcourse.observability``: JSON logs, the request's
correlation id, tracing, metrics) around ``app.resolve``.
"""

from __future__ import annotations

import binascii
import logging
import uuid
from collections.abc import Callable, Sequence
from http import HTTPStatus
from typing import Any, TypeVar

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestUnsupportedContentType, RequestValidationError
from pydantic import BaseModel

from smartcourse.catalogue import Function
from smartcourse.errors import (
    BadRequest,
    Conflict,
    DomainError,
    Forbidden,
    InvalidContent,
    NotFound,
    PayloadTooLarge,
    Throttled,
    Unauthorized,
    Unavailable,
    ValidationFailed,
)
from smartcourse.principal import ANONYMOUS, ANONYMOUS_PRINCIPAL_ID, Principal, Role

log = logging.getLogger("smartcourse.http")

F = TypeVar("F", bound=Callable[..., Any])

# The one place domain errors become HTTP statuses.
STATUS_OF: dict[type[DomainError], HTTPStatus] = {
    BadRequest: HTTPStatus.BAD_REQUEST,
    Unauthorized: HTTPStatus.UNAUTHORIZED,
    Forbidden: HTTPStatus.FORBIDDEN,
    NotFound: HTTPStatus.NOT_FOUND,
    Conflict: HTTPStatus.CONFLICT,
    ValidationFailed: HTTPStatus.UNPROCESSABLE_ENTITY,
    Throttled: HTTPStatus.TOO_MANY_REQUESTS,
    Unavailable: HTTPStatus.SERVICE_UNAVAILABLE,
    PayloadTooLarge: HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
}

MALFORMED_JSON = "Malformed JSON body"
TAGS = {"auth": "Auth", "admin": "Admin"}


class ErrorBody(BaseModel):
    detail: str


class ValidationErrorEntry(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorBody(BaseModel):
    detail: list[ValidationErrorEntry]


def status_of(error: DomainError) -> HTTPStatus:
    for cls in type(error).__mro__:
        if cls in STATUS_OF:
            return STATUS_OF[cls]
    return HTTPStatus.BAD_REQUEST


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(status_code=int(status), content_type=content_types.APPLICATION_JSON, body=body,
                    headers=headers)


def no_content() -> Response:
    return Response(status_code=HTTPStatus.NO_CONTENT, content_type=None, body=None)


def validation_entries(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """``{loc, msg, type}`` only: pydantic's ``input``/``ctx`` could echo a password back."""
    return [
        {"loc": [p if isinstance(p, int) else str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")),
         "type": str(e.get("type", "value_error"))}
        for e in errors
    ]


def validation_response(errors: Sequence[Any]) -> Response:
    return json_response(HTTPStatus.UNPROCESSABLE_ENTITY, {"detail": validation_entries(errors)})


def make_resolver() -> APIGatewayRestResolver:
    """A REST (v1 proxy) resolver with request validation, JSON errors and no stack traces in bodies."""
    app = APIGatewayRestResolver(enable_validation=True)

    @app.exception_handler(DomainError)
    def _domain(error: DomainError) -> Response:
        headers = None
        if isinstance(error, Throttled | Unavailable):
            headers = {"Retry-After": str(error.retry_after_seconds)}
        if isinstance(error, ValidationFailed):
            entries = error.problems or [{"loc": ["body"], "msg": error.message, "type": "value_error"}]
            return json_response(HTTPStatus.UNPROCESSABLE_ENTITY, {"detail": validation_entries(entries)})
        if isinstance(error, InvalidContent):
            return json_response(status_of(error), {"detail": error.message, "problems": error.problems})
        return json_response(status_of(error), {"detail": error.message}, headers)

    # A media type Powertools cannot parse raises RequestUnsupportedContentType, not a RequestValidationError.
    @app.exception_handler([RequestValidationError, RequestUnsupportedContentType])
    def _invalid(error: RequestValidationError | RequestUnsupportedContentType) -> Response:
        errors = list(error.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            return json_response(HTTPStatus.BAD_REQUEST, {"detail": MALFORMED_JSON})
        if any(e.get("type") == "unsupported_content_type" for e in errors):
            return json_response(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, {"detail": "Unsupported content type"})
        return validation_response(errors)

    @app.exception_handler([UnicodeDecodeError, binascii.Error])
    def _undecodable(error: Exception) -> Response:
        return json_response(HTTPStatus.BAD_REQUEST, {"detail": "Malformed request body"})

    @app.not_found
    def _not_found(error: NotFoundError) -> Response:
        return json_response(HTTPStatus.NOT_FOUND, {"detail": "Not found"})

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response:
        log.exception("unhandled error", exc_info=error)
        return json_response(HTTPStatus.INTERNAL_SERVER_ERROR, {"detail": "Internal server error"})

    return app


def _error_responses(codes: Sequence[int]) -> dict[int, Any]:
    out: dict[int, Any] = {}
    for code in codes:
        model = ValidationErrorBody if code == HTTPStatus.UNPROCESSABLE_ENTITY else ErrorBody
        out[code] = {"description": HTTPStatus(code).phrase, "content": {"application/json": {"model": model}}}
    return out


def route(
    app: APIGatewayRestResolver,
    fn: Function,
    *,
    status_code: int = HTTPStatus.OK,
    response_model: type[BaseModel] | None = None,
    errors: Sequence[int] = (),
    summary: str | None = None,
    description: str | None = None,
    media_type: str | None = None,
) -> Callable[[F], F]:
    """Register the decorated handler at the catalogue's route for ``fn``, documented for the OpenAPI document."""
    http_route = fn.route
    parts = http_route.path.strip("/").split("/")
    area = parts[2] if len(parts) > 2 and parts[:2] == ["api", "v1"] else parts[0]
    codes = [*errors, HTTPStatus.UNPROCESSABLE_ENTITY]
    if http_route.authorized:
        codes.append(HTTPStatus.UNAUTHORIZED)
    success: dict[str, Any] = {"description": HTTPStatus(status_code).phrase}
    if response_model is not None:
        success["content"] = {"application/json": {"model": response_model}}
    elif media_type is not None:
        # A body that is not JSON (e.g. server-sent events): documented as text of that media type.
        success["content"] = {media_type: {"schema": {"type": "string"}}}
    responses = {int(status_code): success, **_error_responses(sorted(set(codes)))}
    return app.route(
        http_route.resolver_path,
        http_route.method,
        summary=summary or fn.description,
        description=description,
        tags=[TAGS.get(area, area.capitalize())],
        operation_id=fn.name,
        status_code=int(status_code),
        responses=responses,
    )


# --- the caller -------------------------------------------------------------------------------------------


def principal(app: APIGatewayRestResolver) -> Principal:
    """The caller as the gateway's authorizer passed it (``requestContext.authorizer``); 401 when absent."""
    authorizer = (app.current_event.raw_event.get("requestContext") or {}).get("authorizer") or {}
    raw_id = authorizer.get("user_id") or authorizer.get("principalId")
    if not raw_id:
        raise Unauthorized("Not authenticated")
    try:
        user_id = uuid.UUID(str(raw_id))
    except ValueError:
        raise Unauthorized("Not authenticated") from None
    roles = frozenset(r.strip() for r in str(authorizer.get("roles") or "").split(",") if r.strip())
    return Principal(user_id=user_id, roles=roles)


def optional_principal(app: APIGatewayRestResolver) -> Principal:
    """The caller, or ``ANONYMOUS`` on a route open to anyone when no token was sent (optional authorizer)."""
    authorizer = (app.current_event.raw_event.get("requestContext") or {}).get("authorizer") or {}
    if authorizer.get("principalId") == ANONYMOUS_PRINCIPAL_ID and not authorizer.get("user_id"):
        return ANONYMOUS
    return principal(app)


def require_role(caller: Principal, *roles: Role | str) -> Principal:
    """The caller if they hold any of ``roles``; otherwise 403."""
    if not any(caller.has_role(r) for r in roles):
        raise Forbidden("Not allowed")
    return caller


def source_ip(app: APIGatewayRestResolver) -> str | None:
    identity = (app.current_event.raw_event.get("requestContext") or {}).get("identity") or {}
    ip = identity.get("sourceIp")
    return str(ip) if ip else None
