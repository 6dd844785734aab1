"""HTTP plumbing shared by every API function: the resolver, error mapping, the caller, routes from the catalogue.

Each function builds its resolver with ``make_resolver()`` and registers its
one handler with ``@route(app, FUNCTION)``; the path and method come from the
catalogue entry, never from a string in the handler module. Its Lambda entry
point is ``@observed`` (``smartcourse.observability``: JSON logs, the request's
correlation id, tracing, metrics) around ``app.resolve``.
"""

from __future__ import annotations

import binascii
import contextlib
import logging
import typing
import uuid
from collections.abc import Callable, Mapping, Sequence
from http import HTTPStatus
from typing import Any, TypeVar

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestUnsupportedContentType, RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body
from pydantic import BaseModel

from smartcourse.catalogue import Function
from smartcourse.db.transient import is_transient_database_error
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
from smartcourse.idempotency import IDEMPOTENCY_STATUSES, is_mutating, resolve_idempotently
from smartcourse.principal import ANONYMOUS, ANONYMOUS_PRINCIPAL_ID, Principal, Role
from smartcourse.validation import UNCLEAN_TEXT, unclean_text_at

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
# What API Gateway itself may answer on any route before or after the function (payload over 6 MB,
# throttling, a function error or timeout); authorized routes add the authorizer's 401 and 403.
GATEWAY_STATUSES = (HTTPStatus.REQUEST_ENTITY_TOO_LARGE, HTTPStatus.TOO_MANY_REQUESTS, HTTPStatus.BAD_GATEWAY,
                    HTTPStatus.GATEWAY_TIMEOUT)
AUTHORIZER_STATUSES = (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN)
# What a route that reads a JSON body adds: malformed JSON (400), another media type (415).
BODY_STATUSES = (HTTPStatus.BAD_REQUEST, HTTPStatus.UNSUPPORTED_MEDIA_TYPE)
DATABASE_UNAVAILABLE = "The service is briefly unavailable: try again"
DATABASE_RETRY_AFTER_SECONDS = 1
TAGS = {"auth": "Auth", "admin": "Admin"}


# One server-sent event as a stream's schema describes it (its ``data`` carries the JSON payload as text).
SSE_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"event": {"type": "string"}, "data": {"type": "string"}, "id": {"type": "string"},
                   "retry": {"type": "integer"}},
    "required": ["data"],
}


class ErrorBody(BaseModel):
    detail: str


class GatewayErrorBody(BaseModel):
    """API Gateway's own answers (authorizer, throttling, payload size, function failure)."""

    message: str | None


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


class IdempotentRestResolver(APIGatewayRestResolver):
    """Powertools' REST resolver; a mutating request with an ``Idempotency-Key`` runs at most once."""

    def resolve(self, event: Any, context: Any) -> dict[str, Any]:
        if not isinstance(event, Mapping):
            return super().resolve(event, context)
        resolve = super().resolve
        return resolve_idempotently(event, context, lambda: resolve(event, context))


def screen_request(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response:
    """What every route refuses (422) after its own validation, whatever its schemas say.

    NUL or an unpaired surrogate in any path or query parameter or JSON body string; and a JSON body that
    is not an object (every request body is one): Powertools would validate the first item of an array.
    """
    event = app.current_event
    sources: list[tuple[str, Any]] = [("path", event.path_parameters or {}),
                                      ("query", event.multi_value_query_string_parameters or {})]
    if event.body:
        # Powertools' cached parse, which its validation reads too: the body is parsed once per request.
        # Not JSON: the route's validation (or a handler that reads no body) decides.
        with contextlib.suppress(ValueError):
            body = event.json_body
            if body is not None and not isinstance(body, dict):
                return validation_response([{"loc": ["body"], "msg": "Input should be a JSON object",
                                             "type": "model_attributes_type"}])
            sources.append(("body", body))
    for location, value in sources:
        found = unclean_text_at(value, (location,))
        if found is not None:
            loc = found[:2] if location == "query" else found  # the parameter, not the index of its value
            return validation_response([{"loc": list(loc), "msg": UNCLEAN_TEXT, "type": "value_error"}])
    return next_middleware(app)


def make_resolver() -> APIGatewayRestResolver:
    """A REST (v1 proxy) resolver with request validation, JSON errors and no stack traces in bodies."""
    app = IdempotentRestResolver(enable_validation=True)

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
        if is_transient_database_error(error):
            # A deadlock victim, a database restarting or out of reach: the request changed nothing (its
            # transaction rolled back) and may succeed again, so the caller is told to retry — not a bug's 500.
            log.warning("database unavailable", exc_info=error)
            return json_response(HTTPStatus.SERVICE_UNAVAILABLE, {"detail": DATABASE_UNAVAILABLE},
                                 {"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)})
        log.exception("unhandled error", exc_info=error)
        return json_response(HTTPStatus.INTERNAL_SERVER_ERROR, {"detail": "Internal server error"})

    app.use([screen_request])
    return app


def _error_responses(codes: Sequence[int]) -> dict[int, Any]:
    out: dict[int, Any] = {}
    for code in codes:
        model: Any = ValidationErrorBody if code == HTTPStatus.UNPROCESSABLE_ENTITY else ErrorBody
        if code in GATEWAY_STATUSES or code in AUTHORIZER_STATUSES:
            model = ErrorBody | GatewayErrorBody  # the function's answer or the gateway's
        out[code] = {"description": HTTPStatus(code).phrase, "content": {"application/json": {"model": model}}}
    return out


def takes_body(handler: Callable[..., Any]) -> bool:
    """Whether the handler declares a request body (``Annotated[Model, Body()]``), which Powertools parses."""
    hints = typing.get_type_hints(handler, include_extras=True)
    return any(isinstance(extra, Body) for hint in hints.values() for extra in getattr(hint, "__metadata__", ()))


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
    if is_mutating(http_route.method):  # what an Idempotency-Key adds (the header: smartcourse.openapi)
        codes += IDEMPOTENCY_STATUSES
    codes += GATEWAY_STATUSES
    codes.append(HTTPStatus.SERVICE_UNAVAILABLE)  # the database briefly unavailable (make_resolver), or a provider
    if http_route.authorized:
        codes += AUTHORIZER_STATUSES
    if "{" in http_route.path:
        codes.append(HTTPStatus.NOT_FOUND)  # a path parameter the resolver's pattern does not match
    success: dict[str, Any] = {"description": HTTPStatus(status_code).phrase}
    if response_model is not None:
        success["content"] = {"application/json": {"model": response_model}}
    elif media_type == "text/event-stream":
        success["content"] = {media_type: {"schema": SSE_EVENT_SCHEMA}}
    elif media_type is not None:
        # A body that is not JSON: documented as text of that media type.
        success["content"] = {media_type: {"schema": {"type": "string"}}}

    def register(handler: F) -> F:
        body_codes = BODY_STATUSES if takes_body(handler) else ()
        responses = {int(status_code): success, **_error_responses(sorted({*codes, *body_codes}))}
        registered: F = app.route(
            http_route.resolver_path,
            http_route.method,
            summary=summary or fn.description,
            description=description,
            tags=[TAGS.get(area, area.capitalize())],
            operation_id=fn.name,
            status_code=int(status_code),
            responses=responses,
        )(handler)
        return registered

    return register


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
