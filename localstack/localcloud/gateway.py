"""One REST API (API Gateway v1, Lambda proxy integration) served over HTTP/1.1 on a local port.

What API Gateway does, in its order: match the resource and method (greedy
``{proxy+}``, ``ANY``), run the Lambda authorizer (REQUEST or TOKEN, cached
per identity source for its TTL, the policy checked against each request's
method ARN), build the REST proxy v1 event, invoke the function and shape its
answer. Errors use the template's gateway responses when it customises them,
else API Gateway's defaults. Paths are served without the stage prefix
(``/v1/echo``, not ``/test/v1/echo``); events carry the stage as API Gateway does.

``GET /__localcloud/stats`` answers the runner's statistics (not part of API Gateway).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import re
import socket
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from localcloud.provision import ACCOUNT_ID
from localcloud.template import Authorizer, GatewayResponse, RestApi, Route
from localcloud.workers import InvokeResult, WorkerManager

log = logging.getLogger("localcloud.gateway")

MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # Lambda's synchronous invocation payload limit (request and response)
MAX_DRAIN_BYTES = 64 * 1024 * 1024  # bigger bodies are not read: the connection is closed
STATS_PATH = "/__localcloud/stats"
AUTHORIZER_CACHE_SIZE = 10_000
# API Gateway's default (and, for edge-optimized APIs, maximum) integration timeout: a request not answered by
# then gets 504 INTEGRATION_TIMEOUT, however long the function may run.
INTEGRATION_TIMEOUT_SECONDS = 29.0

# Response type -> (status, message, x-amzn-ErrorType), API Gateway's defaults.
DEFAULT_RESPONSES: dict[str, tuple[int, str | None, str]] = {
    "MISSING_AUTHENTICATION_TOKEN": (403, "Missing Authentication Token", "MissingAuthenticationTokenException"),
    "UNAUTHORIZED": (401, "Unauthorized", "UnauthorizedException"),
    "ACCESS_DENIED": (403, "User is not authorized to access this resource", "AccessDeniedException"),
    "AUTHORIZER_FAILURE": (500, None, "AuthorizerFailureException"),
    "AUTHORIZER_CONFIGURATION_ERROR": (500, None, "AuthorizerConfigurationException"),
    "REQUEST_TOO_LARGE": (413, "Request Too Long", "RequestTooLargeException"),
    "THROTTLED": (429, "Too Many Requests", "TooManyRequestsException"),
    "INTEGRATION_TIMEOUT": (504, "Endpoint request timed out", "InternalServerErrorException"),
    "DEFAULT_5XX": (502, "Internal server error", "InternalServerErrorException"),
    # Not a response type of its own: a throttled Lambda (TooManyRequestsException) behind a proxy integration is
    # answered 500 with DEFAULT_5XX's template; 429 THROTTLED is for the API's own request-rate limits.
    "LAMBDA_THROTTLED": (500, "Internal server error", "InternalServerErrorException"),
}


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass
class _Node:
    literals: dict[str, _Node] = field(default_factory=dict)
    param: tuple[str, _Node] | None = None
    proxy: tuple[str, _Node] | None = None
    methods: dict[str, Route] = field(default_factory=dict)


class RouteTable:
    """Resources as a tree: literal segments win over ``{param}``, which wins over ``{proxy+}``."""

    def __init__(self, routes: list[Route]) -> None:
        self.root = _Node()
        for route in routes:
            node = self.root
            for segment in [s for s in route.resource_path.split("/") if s]:
                if segment.startswith("{") and segment.endswith("+}"):
                    node.proxy = node.proxy or (segment[1:-2], _Node())
                    node = node.proxy[1]
                elif segment.startswith("{") and segment.endswith("}"):
                    node.param = node.param or (segment[1:-1], _Node())
                    node = node.param[1]
                else:
                    node = node.literals.setdefault(segment, _Node())
            node.methods[route.method] = route

    def match(self, path: str) -> tuple[dict[str, Route], dict[str, str]] | None:
        """The methods of the resource that serves ``path`` and its path parameters."""
        segments = [unquote(s) for s in path.split("/") if s]
        return self._match(self.root, segments, {})

    def _match(self, node: _Node, segments: list[str], params: dict[str, str]
               ) -> tuple[dict[str, Route], dict[str, str]] | None:
        if not segments:
            return (node.methods, params) if node.methods else None
        head, rest = segments[0], segments[1:]
        if head in node.literals:
            found = self._match(node.literals[head], rest, params)
            if found:
                return found
        if node.param is not None:
            found = self._match(node.param[1], rest, {**params, node.param[0]: head})
            if found:
                return found
        if node.proxy is not None and node.proxy[1].methods:
            return node.proxy[1].methods, {**params, node.proxy[0]: "/".join(segments)}
        return None


def _media_matches(content_type: str | None, patterns: list[str]) -> bool:
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return any(fnmatchcase(media, p.lower().replace("~1", "/")) for p in patterns)


def evaluate_policy(policy: Any, method_arn: str) -> str | None:
    """'Allow', 'Deny' (explicit) or None (implicit deny) for ``method_arn``."""
    statements = policy.get("Statement", []) if isinstance(policy, dict) else []
    statements = [statements] if isinstance(statements, dict) else statements
    allowed = False
    for statement in statements:
        actions = statement.get("Action", [])
        resources = statement.get("Resource", [])
        actions = [actions] if isinstance(actions, str) else actions
        resources = [resources] if isinstance(resources, str) else resources
        if not any(fnmatchcase("execute-api:Invoke", str(a)) for a in actions):
            continue
        if any(fnmatchcase(method_arn, str(r)) for r in resources):
            if str(statement.get("Effect")).lower() == "deny":
                return "Deny"
            allowed = allowed or str(statement.get("Effect")).lower() == "allow"
    return "Allow" if allowed else None


@dataclass
class _Grant:
    expires: float
    principal_id: str
    policy: Any
    context: dict[str, Any]


class _Reject(Exception):
    def __init__(self, response_type: str, message: str | None = None) -> None:
        super().__init__(response_type)
        self.response_type = response_type
        self.message = message


@dataclass
class _Request:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str
    raw_path: str = "/"
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.time)
    deadline: float | None = None  # time.monotonic() by which the integration must have answered

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in reversed(self.headers) if k.lower() == lowered), None)


class Gateway:
    """The API's behaviour, independent of the HTTP server that feeds it requests."""

    def __init__(self, api: RestApi, functions: WorkerManager, *, api_id: str, region: str = "us-east-1",
                 stats: Callable[[], dict[str, Any]] | None = None,
                 integration_timeout: float = INTEGRATION_TIMEOUT_SECONDS) -> None:
        self.api = api
        self.integration_timeout = integration_timeout
        self.functions = functions
        self.api_id = api_id
        self.region = region
        self.routes = RouteTable(api.routes)
        self.stats_provider = stats
        self._cache: OrderedDict[tuple[str, tuple[str | None, ...]], _Grant] = OrderedDict()
        self._cache_lock = threading.Lock()
        self.requests = 0
        self.overhead_ms: deque[float] = deque(maxlen=2000)

    # ------------------------------------------------------------------ responses

    def gateway_response(self, response_type: str, request_id: str, message: str | None = None) -> Response:
        status, default_message, error_type = DEFAULT_RESPONSES.get(response_type, (500, None, "InternalServerError"))
        message = message if message is not None else default_message
        custom = self.api.gateway_responses.get(response_type)
        fallback = self.api.gateway_responses.get("DEFAULT_4XX" if status < 500 else "DEFAULT_5XX")
        if custom is not None and custom.status:
            status = custom.status
        chosen: GatewayResponse | None = custom or fallback
        header_map = {"content-type": ("Content-Type", "application/json"),
                      "x-amzn-errortype": ("x-amzn-ErrorType", error_type)}
        template = '{"message":$context.error.messageString}'
        if chosen is not None:
            header_map.update({k.lower(): (k, v) for k, v in chosen.headers.items()})
            template = chosen.templates.get("application/json") or next(iter(chosen.templates.values()), template)
        headers = list(header_map.values())
        body = (template.replace("$context.error.messageString", json.dumps(message))
                .replace("$context.error.message", message or "")
                .replace("$context.error.responseType", response_type)
                .replace("$context.requestId", request_id))
        return Response(status, headers, body.encode())

    # ------------------------------------------------------------------ request handling

    def handle(self, request: _Request) -> Response:
        started = time.perf_counter()
        if request.deadline is None:
            request.deadline = time.monotonic() + self.integration_timeout
        invoke_ms = 0.0
        try:
            response, invoke_ms = self._handle(request)
        except _Reject as reject:
            response = self.gateway_response(reject.response_type, request.request_id, reject.message)
        response.headers += [("x-amzn-RequestId", request.request_id),
                             ("x-amz-apigw-id", request.request_id[:16])]
        self.requests += 1
        self.overhead_ms.append((time.perf_counter() - started) * 1000 - invoke_ms)
        return response

    def _handle(self, request: _Request) -> tuple[Response, float]:
        found = self.routes.match(request.raw_path)
        if found is None:
            raise _Reject("MISSING_AUTHENTICATION_TOKEN")
        methods, params = found
        route = methods.get(request.method) or methods.get("ANY")
        if route is None and request.method == "HEAD":
            route = methods.get("GET")  # served as GET, the body is dropped by the server
        if route is None:
            raise _Reject("MISSING_AUTHENTICATION_TOKEN")
        if len(request.body) > MAX_PAYLOAD_BYTES:
            raise _Reject("REQUEST_TOO_LARGE")
        invoke_ms = 0.0
        context = self._request_context(request, route)
        if route.authorizer is not None:
            started = time.perf_counter()
            context["authorizer"] = self._authorize(route.authorizer, request, route, params, context)
            invoke_ms += (time.perf_counter() - started) * 1000
        if route.integration == "MOCK":
            return Response(route.mock_status, list(route.mock_headers.items()), route.mock_body.encode()), invoke_ms
        if route.function is None:
            log.error("%s %s: integration %s is not supported locally", route.method, route.resource_path,
                      route.integration)
            raise _Reject("DEFAULT_5XX")
        event = self._proxy_event(request, route, params, context)
        event_json = json.dumps(event, separators=(",", ":")).encode()
        if len(event_json) > MAX_PAYLOAD_BYTES:
            raise _Reject("REQUEST_TOO_LARGE")
        started = time.perf_counter()
        result = self.functions.invoke(route.function, event_json=event_json, request_id=request.request_id,
                                       deadline=request.deadline)
        invoke_ms += (time.perf_counter() - started) * 1000
        return self._shape(result, request), invoke_ms

    def _request_context(self, request: _Request, route: Route) -> dict[str, Any]:
        stage = self.api.stage
        now = datetime.fromtimestamp(request.started, UTC)
        return {
            "resourceId": hashlib.sha256(route.resource_path.encode()).hexdigest()[:6],
            "resourcePath": route.resource_path,
            "httpMethod": request.method,
            "extendedRequestId": request.request_id[:16],
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            # The path as the client sent it: API Gateway puts the stage (or a custom domain's base path) here
            # because clients send it; the local gateway serves at the root, like an empty base path mapping.
            "path": request.path,
            "accountId": ACCOUNT_ID,
            "protocol": "HTTP/1.1",
            "stage": stage,
            "domainPrefix": self.api_id,
            "requestTimeEpoch": int(request.started * 1000),
            "requestId": request.request_id,
            "identity": {
                "cognitoIdentityPoolId": None, "accountId": None, "cognitoIdentityId": None, "caller": None,
                "sourceIp": request.source_ip, "principalOrgId": None, "accessKey": None,
                "cognitoAuthenticationType": None, "cognitoAuthenticationProvider": None, "userArn": None,
                "userAgent": request.header("User-Agent"), "user": None,
            },
            "domainName": request.header("Host") or f"{self.api_id}.execute-api.{self.region}.amazonaws.com",
            "apiId": self.api_id,
        }

    def _http_parts(self, request: _Request, params: dict[str, str]) -> dict[str, Any]:
        headers: dict[str, str] = {}
        multi_headers: dict[str, list[str]] = {}
        for key, value in request.headers:
            headers[key] = value
            multi_headers.setdefault(key, []).append(value)
        query: dict[str, str] = {}
        multi_query: dict[str, list[str]] = {}
        for key, value in request.query:
            query[key] = value
            multi_query.setdefault(key, []).append(value)
        return {
            "headers": headers, "multiValueHeaders": multi_headers,
            "queryStringParameters": query or None, "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": params or None, "stageVariables": None,
        }

    def _proxy_event(self, request: _Request, route: Route, params: dict[str, str],
                     context: dict[str, Any]) -> dict[str, Any]:
        binary = _media_matches(request.header("Content-Type"), self.api.binary_media_types)
        body: str | None
        if not request.body:
            body = None
        elif binary:
            body = base64.b64encode(request.body).decode()
        else:
            body = request.body.decode("utf-8", "replace")
        return {"resource": route.resource_path, "path": request.path, "httpMethod": request.method,
                **self._http_parts(request, params), "requestContext": context, "body": body,
                "isBase64Encoded": binary and body is not None}

    def method_arn(self, request: _Request) -> str:
        return (f"arn:aws:execute-api:{self.region}:{ACCOUNT_ID}:{self.api_id}/{self.api.stage}/"
                f"{request.method}{request.path}")

    # ------------------------------------------------------------------ authorizer

    def _identity(self, source: str, request: _Request, params: dict[str, str], context: dict[str, Any]
                  ) -> str | None:
        prefixes: dict[str, Callable[[str], str | None]] = {
            "method.request.header.": request.header,
            "method.request.querystring.": lambda n: next((v for k, v in reversed(request.query) if k == n), None),
            "method.request.multivaluequerystring.": lambda n: ",".join(v for k, v in request.query if k == n)
            or None,
            "method.request.path.": params.get,
            "stageVariables.": lambda n: None,
        }
        for prefix, lookup in prefixes.items():
            if source.startswith(prefix):
                return lookup(source[len(prefix):])
        if source.startswith("context."):
            value: Any = context
            for part in source[len("context."):].split("."):
                value = value.get(part) if isinstance(value, dict) else None
            return None if value is None else str(value)
        return None

    def _authorize(self, authorizer: Authorizer, request: _Request, route: Route, params: dict[str, str],
                   context: dict[str, Any]) -> dict[str, Any]:
        identity = tuple(self._identity(s, request, params, context) for s in authorizer.identity_sources)
        missing = any(not v for v in identity)
        if authorizer.type == "TOKEN":
            token = identity[0] if identity else None
            if not token:
                raise _Reject("UNAUTHORIZED")
            if authorizer.validation_expression and not re.fullmatch(authorizer.validation_expression, token):
                raise _Reject("UNAUTHORIZED")
        elif missing and authorizer.ttl_seconds > 0:
            raise _Reject("UNAUTHORIZED")  # identity sources are required when caching is on
        key = (authorizer.qid, identity)
        grant = self._cached(key) if authorizer.ttl_seconds > 0 else None
        latency = 0
        if grant is None:
            started = time.perf_counter()
            grant = self._invoke_authorizer(authorizer, request, route, params, context,
                                            identity[0] if identity else None)
            latency = int((time.perf_counter() - started) * 1000)
            if authorizer.ttl_seconds > 0:
                with self._cache_lock:
                    self._cache[key] = grant
                    while len(self._cache) > AUTHORIZER_CACHE_SIZE:
                        self._cache.popitem(last=False)
        decision = evaluate_policy(grant.policy, self.method_arn(request))
        if decision == "Deny":
            raise _Reject("ACCESS_DENIED", "User is not authorized to access this resource with an explicit deny")
        if decision is None:
            raise _Reject("ACCESS_DENIED")
        return {**grant.context, "principalId": grant.principal_id, "integrationLatency": latency}

    def _cached(self, key: tuple[str, tuple[str | None, ...]]) -> _Grant | None:
        with self._cache_lock:
            grant = self._cache.get(key)
            if grant is not None and grant.expires < time.monotonic():
                del self._cache[key]
                return None
            return grant

    def _invoke_authorizer(self, authorizer: Authorizer, request: _Request, route: Route, params: dict[str, str],
                           context: dict[str, Any], token: str | None) -> _Grant:
        if authorizer.type == "TOKEN":
            event: dict[str, Any] = {"type": "TOKEN", "methodArn": self.method_arn(request),
                                     "authorizationToken": token}
        else:
            event = {"type": "REQUEST", "methodArn": self.method_arn(request), "resource": route.resource_path,
                     "path": request.path, "httpMethod": request.method, **self._http_parts(request, params),
                     "requestContext": context}
        result = self.functions.invoke(authorizer.function, event, deadline=request.deadline)
        if result.expired:
            raise _Reject("INTEGRATION_TIMEOUT")
        if not result.ok:
            if isinstance(result.payload, dict) and result.payload.get("errorMessage") == "Unauthorized":
                raise _Reject("UNAUTHORIZED")
            log.error("authorizer failed: %s", result.payload)
            raise _Reject("AUTHORIZER_FAILURE")
        answer = result.payload
        if not isinstance(answer, dict) or "principalId" not in answer or "policyDocument" not in answer:
            log.error("authorizer answer lacks principalId/policyDocument: %r", answer)
            raise _Reject("AUTHORIZER_CONFIGURATION_ERROR")
        raw_context = answer.get("context") or {}
        if not isinstance(raw_context, dict) or any(isinstance(v, dict | list) for v in raw_context.values()):
            log.error("authorizer context values must be strings, numbers or booleans: %r", raw_context)
            raise _Reject("AUTHORIZER_CONFIGURATION_ERROR")
        # REST APIs hand the context to the integration as strings.
        as_text = {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in raw_context.items()
                   if v is not None}
        return _Grant(time.monotonic() + authorizer.ttl_seconds, str(answer["principalId"]),
                      answer["policyDocument"], as_text)

    # ------------------------------------------------------------------ function result

    def _shape(self, result: InvokeResult, request: _Request) -> Response:
        if result.expired:
            log.warning("%s %s -> not answered within the integration timeout (%.0f s)", request.method,
                        request.path, self.integration_timeout)
            raise _Reject("INTEGRATION_TIMEOUT")
        if result.throttled:
            raise _Reject("LAMBDA_THROTTLED")
        if not result.ok:
            log.warning("%s %s -> function error %s: %s", request.method, request.path,
                        result.payload.get("errorType") if isinstance(result.payload, dict) else "?",
                        result.payload.get("errorMessage") if isinstance(result.payload, dict) else result.payload)
            raise _Reject("DEFAULT_5XX")
        if result.payload_bytes > MAX_PAYLOAD_BYTES:
            log.warning("%s %s -> response of %d bytes exceeds Lambda's 6 MB", request.method, request.path,
                        result.payload_bytes)
            raise _Reject("DEFAULT_5XX")
        payload = result.payload
        try:
            if not isinstance(payload, dict):
                raise ValueError("the result is not an object")
            status = int(payload.get("statusCode", 200))
            body = payload.get("body")
            if body is not None and not isinstance(body, str):
                raise ValueError("body is not a string")
            headers = payload.get("headers") or {}
            multi = payload.get("multiValueHeaders") or {}
            if not isinstance(headers, dict) or not isinstance(multi, dict):
                raise ValueError("headers are not objects")
        except (TypeError, ValueError) as exc:
            log.warning("%s %s -> malformed Lambda proxy response (%s)", request.method, request.path, exc)
            raise _Reject("DEFAULT_5XX") from exc
        merged: list[tuple[str, str]] = [(k, str(v)) for k, values in multi.items() for v in values]
        multi_keys = {k.lower() for k in multi}
        merged += [(k, str(v)) for k, v in headers.items() if k.lower() not in multi_keys]
        data = (body or "").encode()
        if payload.get("isBase64Encoded") and body:
            accept = request.header("Accept") or ""
            wanted = [a.strip() for a in accept.split(",")]
            if "*/*" in self.api.binary_media_types or any(_media_matches(a, self.api.binary_media_types)
                                                           for a in wanted):
                data = base64.b64decode(body)
        if not any(k.lower() == "content-type" for k, _ in merged):
            merged.append(("Content-Type", "application/json"))
        return Response(status, merged, data)


# --------------------------------------------------------------------------------------------- HTTP server

_HOP_BY_HOP = {"content-length", "connection", "transfer-encoding", "keep-alive", "date", "server"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 120  # idle keep-alive connections
    server: GatewayServer

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _read_body(self) -> bytes | None:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            total = 0
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_DRAIN_BYTES:
                    return None
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_DRAIN_BYTES:
            return None
        return self.rfile.read(length) if length else b""

    def _send(self, response: Response, head_only: bool = False) -> None:
        self.send_response(response.status)
        for key, value in response.headers:
            if key.lower() not in _HOP_BY_HOP:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if not head_only:
            self.wfile.write(response.body)

    def _handle(self) -> None:
        gateway = self.server.gateway
        url = urlsplit(self.path)
        body = self._read_body()
        request = _Request(self.command, unquote(url.path) or "/", parse_qsl(url.query, keep_blank_values=True),
                           list(self.headers.items()), body or b"", self.client_address[0], url.path or "/")
        if body is None:
            self.close_connection = True
            self._send(gateway.gateway_response("REQUEST_TOO_LARGE", request.request_id))
            return
        if url.path == STATS_PATH and gateway.stats_provider is not None:
            data = json.dumps(gateway.stats_provider(), indent=2).encode()
            self._send(Response(200, [("Content-Type", "application/json")], data))
            return
        port = str(self.server.server_address[1])
        for key, value in (("X-Forwarded-For", request.source_ip), ("X-Forwarded-Proto", "http"),
                           ("X-Forwarded-Port", port), ("X-Amzn-Trace-Id", f"Root=1-{request.request_id[:8]}")):
            if request.header(key) is None:
                request.headers.append((key, value))
        response = gateway.handle(request)
        self._send(response, head_only=self.command == "HEAD")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

    def __getattr__(self, name: str) -> Any:
        # http.server answers a method without a do_<METHOD> with its own 501 HTML page; API Gateway
        # answers any method it has no route for (TRACE, QUERY, an invented verb) like an unknown
        # resource: 403 Missing Authentication Token (or the template's gateway response), from _handle.
        if name.startswith("do_"):
            return self._handle
        raise AttributeError(name)


class GatewayServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, gateway: Gateway, host: str, port: int) -> None:
        self.gateway = gateway
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        super().__init__((host, port), _Handler)
        self._thread: threading.Thread | None = None

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.2},
                                        name=f"gateway-{self.gateway.api.service}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(5)
