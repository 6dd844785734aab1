"""``Idempotency-Key`` on mutating requests: a retried request answers the first response and acts once.

A client that may retry (a timeout, a dropped connection) sends the same ``Idempotency-Key`` header with
the same request. The first request runs; while it runs, a duplicate gets 409; once it has answered,
every duplicate within 24 hours gets that same answer (marked ``Idempotent-Replayed: true``) without
running again. The same key with another request (method, path, query or body) gets 422. Keys are scoped
to the caller (the authorizer's principal, ``anonymous`` on routes without a token) and to the service:
records live in the service's DynamoDB table through Powertools' idempotency utility.

Answers that say "try again" are not kept (5xx, 408, 429): the record is dropped so a retry runs anew.
A request that crashes or times out leaves an in-progress record that expires with the Lambda's
remaining time, after which a retry runs again.

Nothing heavy at import: Powertools' idempotency package and the DynamoDB client load on the first request
that carries the header (API functions keep their cold start small).
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any

from smartcourse.aws_clients import aws_client
from smartcourse.settings import get_settings

log = logging.getLogger("smartcourse.idempotency")

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
EXPIRES_AFTER_SECONDS = 24 * 3600
MAX_KEY_LENGTH = 255
# Visible ASCII: a UUID, a ULID or any client-made token fits; whitespace and control characters do not.
_KEY = re.compile(r"[\x21-\x7e]+")
ANONYMOUS_SCOPE = "anonymous"
# Without a Lambda context (a direct call in a test or a tool) an in-progress record expires after the
# longest a request can run behind API Gateway (its 29-second integration timeout).
FALLBACK_REMAINING_MS = 29_000
# Every route of a service shares one key space: the same key on another route is "another request" (422).
KEY_PREFIX = "request"
# Answers a retry should not get back: the request may succeed when tried again.
RETRYABLE_STATUSES = frozenset({HTTPStatus.REQUEST_TIMEOUT, HTTPStatus.TOO_MANY_REQUESTS})
# What a mutating route may answer because of the header: in progress, another request, store unavailable.
IDEMPOTENCY_STATUSES = (HTTPStatus.CONFLICT, HTTPStatus.UNPROCESSABLE_ENTITY, HTTPStatus.SERVICE_UNAVAILABLE)

# The table's layout (the stacks build it from these): partition key, and the epoch-seconds TTL attribute.
KEY_ATTRIBUTE = "id"
EXPIRY_ATTRIBUTE = "expiration"

KEY_TYPE = "idempotency_key"
IN_PROGRESS = "A request with this Idempotency-Key is still in progress; retry it later"
REUSED = "This Idempotency-Key was used with another request (method, path, query or body)"
UNAVAILABLE = "The idempotency store is unavailable; retry later"

ProxyResponse = dict[str, Any]


def is_mutating(method: str | None) -> bool:
    return str(method or "").upper() in MUTATING_METHODS


def header_values(event: Mapping[str, Any], name: str) -> list[str]:
    """Every value of header ``name`` (any case) in a REST proxy event."""
    wanted = name.lower()
    multi = event.get("multiValueHeaders") or {}
    values = [str(v) for k, vs in multi.items() if k.lower() == wanted for v in (vs or [])]
    if values:
        return values
    single = event.get("headers") or {}
    return [str(v) for k, v in single.items() if k.lower() == wanted and v is not None]


def key_problem(values: list[str]) -> str | None:
    """Why these header values are no usable key, or None."""
    if len(values) != 1:
        return f"Send one {HEADER} header"
    key = values[0]
    if not key or len(key) > MAX_KEY_LENGTH or not _KEY.fullmatch(key):
        return f"{HEADER} must be 1 to {MAX_KEY_LENGTH} visible ASCII characters (no spaces)"
    return None


def scope_of(event: Mapping[str, Any]) -> str:
    """Whose key space: the principal the authorizer passed, else ``anonymous``."""
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    principal = authorizer.get("user_id") or authorizer.get("principalId")
    return str(principal) if principal else ANONYMOUS_SCOPE


def _body(event: Mapping[str, Any]) -> Any:
    """The body as the request means it: a JSON body by its value (key order and spacing do not matter)."""
    raw = event.get("body")
    if raw is None:
        return None
    text = str(raw)
    if event.get("isBase64Encoded"):
        try:
            text = base64.b64decode(text, validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return {"base64": str(raw)}
    try:
        return {"json": json.loads(text)}
    except ValueError:
        return {"text": text}


def request_record(event: Mapping[str, Any], key: str) -> dict[str, Any]:
    """What Powertools hashes: ``[scope, key]`` names the record, ``request`` must match on a replay."""
    return {
        "scope": scope_of(event),
        "key": key,
        "request": {
            "method": str(event.get("httpMethod") or "").upper(),
            "path": event.get("path"),
            "query": event.get("multiValueQueryStringParameters") or event.get("queryStringParameters"),
            "body": _body(event),
        },
    }


def status_of(response: Mapping[str, Any]) -> int:
    return int(response.get("statusCode") or 0)


def is_kept(response: Mapping[str, Any]) -> bool:
    """An answer worth replaying: final for this request (not a server error or a "slow down")."""
    status = status_of(response)
    return status < HTTPStatus.INTERNAL_SERVER_ERROR and status not in RETRYABLE_STATUSES


def _response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> ProxyResponse:
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    return {"statusCode": int(status), "body": json.dumps(body), "isBase64Encoded": False,
            "multiValueHeaders": {k: [v] for k, v in all_headers.items()}}


def key_error(message: str, error_type: str = KEY_TYPE) -> ProxyResponse:
    """422 in the API's validation-error shape, located at the header."""
    return _response(HTTPStatus.UNPROCESSABLE_ENTITY,
                     {"detail": [{"loc": ["header", HEADER], "msg": message, "type": error_type}]})


def in_progress() -> ProxyResponse:
    return _response(HTTPStatus.CONFLICT, {"detail": IN_PROGRESS}, {"Retry-After": "1"})


def unavailable() -> ProxyResponse:
    return _response(HTTPStatus.SERVICE_UNAVAILABLE, {"detail": UNAVAILABLE}, {"Retry-After": "1"})


def replayed(response: Mapping[str, Any]) -> ProxyResponse:
    out = dict(response)
    headers = {k: list(v) for k, v in (out.get("multiValueHeaders") or {}).items()}
    headers[REPLAYED_HEADER] = ["true"]
    out["multiValueHeaders"] = headers
    return out


class _NotKept(Exception):
    """A response not to keep: raising it makes Powertools drop the record (it does on any exception)."""

    def __init__(self, response: ProxyResponse) -> None:
        super().__init__("response not kept")
        self.response = response


class _Remaining:
    """A stand-in Lambda context for direct calls (see ``FALLBACK_REMAINING_MS``)."""

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return FALLBACK_REMAINING_MS


_stores: dict[str, tuple[Any, Any]] = {}  # table -> (client, persistence layer)
_stores_lock = threading.Lock()


def _store(table: str) -> Any:
    """The process's persistence layer for ``table`` (rebuilt when the DynamoDB client was reset)."""
    client = aws_client("dynamodb", attempts=3, connect_timeout=1.0, read_timeout=3.0)
    with _stores_lock:
        cached = _stores.get(table)
        if cached is None or cached[0] is not client:
            from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

            cached = (client, DynamoDBPersistenceLayer(
                table_name=table, key_attr=KEY_ATTRIBUTE, expiry_attr=EXPIRY_ATTRIBUTE, boto3_client=client))
            _stores[table] = cached
        return cached[1]


def _config(context: Any) -> Any:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

    config = IdempotencyConfig(
        event_key_jmespath="[scope, key]",
        payload_validation_jmespath="request",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=EXPIRES_AFTER_SECONDS,
        response_hook=lambda response, _record: replayed(response),
    )
    has_deadline = callable(getattr(context, "get_remaining_time_in_millis", None))
    config.register_lambda_context(context if has_deadline else _Remaining())  # type: ignore[arg-type]
    return config


def resolve_idempotently(event: Mapping[str, Any], context: Any,
                         resolve: Callable[[], ProxyResponse]) -> ProxyResponse:
    """``resolve()``'s answer, run at most once per (caller, ``Idempotency-Key``) on a mutating request.

    Without the header, or on a reading method, ``resolve()`` runs as always.
    """
    if not is_mutating(event.get("httpMethod")):
        return resolve()
    values = header_values(event, HEADER)
    if not values:
        return resolve()
    problem = key_problem(values)
    if problem is not None:
        return key_error(problem)
    table = get_settings().idempotency_table
    if not table:
        log.error("Idempotency-Key sent to a function without an idempotency table (IDEMPOTENCY_TABLE)")
        return unavailable()

    from aws_lambda_powertools.utilities.idempotency import idempotent_function
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyInconsistentStateError,
        IdempotencyPersistenceLayerError,
        IdempotencyValidationError,
    )

    @idempotent_function(data_keyword_argument="record", persistence_store=_store(table), config=_config(context),
                         key_prefix=KEY_PREFIX)
    def run(record: dict[str, Any]) -> ProxyResponse:
        response = resolve()
        if not is_kept(response):
            raise _NotKept(response)
        return response

    try:
        result: ProxyResponse = run(record=request_record(event, values[0]))
        return result
    except _NotKept as not_kept:
        return not_kept.response
    except IdempotencyValidationError:
        return key_error(REUSED, "idempotency_key_reused")
    except (IdempotencyAlreadyInProgressError, IdempotencyInconsistentStateError):
        return in_progress()
    except IdempotencyPersistenceLayerError as exc:
        # The request may have run (its answer could not be stored); its in-progress record expires with
        # the function's deadline, after which a retry runs again.
        log.error("idempotency store failed", extra={"error_type": type(exc.__cause__ or exc).__name__})
        return unavailable()
