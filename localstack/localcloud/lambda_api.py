"""Lambda's Invoke API on 127.0.0.1, so that functions (and tests) can call ``lambda:Invoke`` locally.

Only ``POST /2015-03-31/functions/{FunctionName}/invocations`` is served, as
boto3's lambda client sends it. FunctionName is a name, a full ARN or a
partial ARN (``123456789012:function:name``); a qualifier is accepted and
ignored (every function is ``$LATEST`` here).

* ``RequestResponse`` (default): run on the function's warm workers, 200 with
  the handler's result, or with ``X-Amz-Function-Error: Unhandled`` and the
  error object when it failed or timed out.
* ``Event``: 202 at once; a fixed set of threads runs the queue. A queued
  invocation identical to one still waiting (same function, same payload) is
  dropped: request handlers nudge the outbox publisher after every commit, and
  one pending run serves them all. No more than the function's concurrency
  runs at a time. A failed invocation is retried twice (as Lambda does),
  after ``retry_delays`` seconds.
* ``DryRun``: 204.

Workers find it through ``AWS_ENDPOINT_URL_LAMBDA``, which boto3 prefers over
``AWS_ENDPOINT_URL`` for the lambda client.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from localcloud.provision import ACCOUNT_ID
from localcloud.workers import WorkerManager

log = logging.getLogger("localcloud.lambda_api")

INVOKE_PREFIX = "/2015-03-31/functions/"
INVOKE_SUFFIX = "/invocations"
DEFAULT_ASYNC_THREADS = 8
DEFAULT_MAX_QUEUED = 10_000
DEFAULT_RETRY_DELAYS = (1.0, 2.0)


def function_name_of(identifier: str) -> str:
    """The bare function name in a name, full ARN or partial ARN, without any qualifier."""
    if identifier.startswith("arn:"):
        parts = identifier.split(":")
        return parts[6] if len(parts) > 6 else ""
    if ":function:" in identifier:
        return identifier.split(":function:", 1)[1].split(":", 1)[0]
    return identifier.split(":", 1)[0]


@dataclass
class _Queued:
    key: str
    payload: bytes
    due: float
    attempt: int = 0


@dataclass
class AsyncStats:
    accepted: int = 0
    coalesced: int = 0
    invoked: int = 0
    errors: int = 0
    retries: int = 0
    dropped: int = 0  # failed after the last retry
    by_function: dict[str, int] = field(default_factory=dict)


class AsyncInvoker:
    """The queue behind ``InvocationType=Event``: bounded threads, per-function concurrency, coalescing."""

    def __init__(self, functions: WorkerManager, *, threads: int = DEFAULT_ASYNC_THREADS,
                 max_queued: int = DEFAULT_MAX_QUEUED,
                 retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS) -> None:
        self.functions = functions
        self.max_queued = max_queued
        self.retry_delays = retry_delays
        self.stats = AsyncStats()
        self._queue: deque[_Queued] = deque()
        self._waiting: set[tuple[str, bytes]] = set()
        self._running: dict[str, int] = {}
        self._cond = threading.Condition()
        self._stopping = False
        self._threads = [threading.Thread(target=self._loop, name=f"lambda-async-{i}", daemon=True)
                         for i in range(threads)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def submit(self, key: str, payload: bytes) -> bool:
        """Queue an invocation; False when the queue is full (the caller answers 429)."""
        with self._cond:
            self.stats.accepted += 1
            if (key, payload) in self._waiting:
                self.stats.coalesced += 1
                return True
            if len(self._queue) >= self.max_queued:
                self.stats.accepted -= 1
                return False
            self._enqueue(_Queued(key, payload, time.monotonic()))
            return True

    def _enqueue(self, item: _Queued) -> None:
        self._waiting.add((item.key, item.payload))
        self._queue.append(item)
        self._cond.notify()

    def _limit(self, key: str) -> int:
        return self.functions.pools[key].spec.max_concurrency

    def _take(self) -> _Queued | None:
        """The first due invocation whose function has a free slot (caller holds the lock)."""
        now = time.monotonic()
        for item in self._queue:
            if item.due <= now and self._running.get(item.key, 0) < self._limit(item.key):
                self._queue.remove(item)
                self._waiting.discard((item.key, item.payload))
                self._running[item.key] = self._running.get(item.key, 0) + 1
                return item
        return None

    def _wait_time(self) -> float:
        now = time.monotonic()
        due = [item.due - now for item in self._queue if item.due > now]
        return max(0.01, min(due)) if due else 1.0

    def _loop(self) -> None:
        while True:
            with self._cond:
                item = None
                while not self._stopping and (item := self._take()) is None:
                    self._cond.wait(self._wait_time())
                if self._stopping or item is None:
                    return
            try:
                self._run(item)
            except Exception:  # a runner bug must not cost a thread of the fixed set
                log.exception("async invocation of %s failed in the runner", item.key)
            finally:
                with self._cond:
                    self._running[item.key] -= 1
                    self._cond.notify_all()

    def _run(self, item: _Queued) -> None:
        result = self.functions.invoke(item.key, event_json=item.payload)
        with self._cond:
            self.stats.invoked += 1
            name = self.functions.pools[item.key].spec.name
            self.stats.by_function[name] = self.stats.by_function.get(name, 0) + 1
            if result.ok:
                return
            self.stats.errors += 1
            if item.attempt < len(self.retry_delays) and not self._stopping:
                self.stats.retries += 1
                delay = self.retry_delays[item.attempt]
                if (item.key, item.payload) not in self._waiting:
                    self._enqueue(_Queued(item.key, item.payload, time.monotonic() + delay, item.attempt + 1))
                log.warning("%s: async invocation failed (%s); retry %d in %.1f s", name,
                            _error_message(result.payload), item.attempt + 1, delay)
            else:
                self.stats.dropped += 1
                log.error("%s: async invocation failed after %d attempt(s): %s", name, item.attempt + 1,
                          _error_message(result.payload))

    def pending(self) -> int:
        with self._cond:
            return len(self._queue) + sum(self._running.values())

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._queue.clear()
            self._waiting.clear()
            self._cond.notify_all()
        deadline = time.monotonic() + 5  # running invocations finish on their own (daemon threads)
        for thread in self._threads:
            if thread.is_alive():
                thread.join(max(0.0, deadline - time.monotonic()))


def _error_message(payload: Any) -> Any:
    return payload.get("errorMessage") if isinstance(payload, dict) else payload


class LambdaApi:
    """Resolves function names and answers Invoke requests (the HTTP layer is :class:`LambdaApiServer`)."""

    def __init__(self, names: dict[str, str], region: str) -> None:
        self.names = dict(names)  # function name -> template key
        self.region = region
        self.functions: WorkerManager | None = None
        self.async_invoker: AsyncInvoker | None = None
        self.sync_invocations = 0
        self.dry_runs = 0
        self._lock = threading.Lock()

    def attach(self, functions: WorkerManager, **async_options: Any) -> None:
        self.functions = functions
        self.async_invoker = AsyncInvoker(functions, **async_options)
        self.async_invoker.start()

    def stop(self) -> None:
        if self.async_invoker is not None:
            self.async_invoker.stop()

    def resolve(self, identifier: str) -> str | None:
        return self.names.get(function_name_of(identifier))

    def invoke(self, identifier: str, invocation_type: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body) of one Invoke request."""
        key = self.resolve(identifier)
        if key is None or self.functions is None or self.async_invoker is None:
            arn = identifier if identifier.startswith("arn:") else \
                f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{function_name_of(identifier)}"
            return _error(404, "ResourceNotFoundException", f"Function not found: {arn}")
        payload = body.strip() or b"{}"
        try:
            json.loads(payload)
        except ValueError:
            return _error(400, "InvalidRequestContentException",
                          "Could not parse request body into json: the payload is not valid JSON")
        if invocation_type == "DryRun":
            with self._lock:
                self.dry_runs += 1
            return 204, {}, b""
        if invocation_type == "Event":
            if not self.async_invoker.submit(key, payload):
                return _error(429, "TooManyRequestsException", "Rate Exceeded.")
            return 202, {}, b""
        if invocation_type != "RequestResponse":
            return _error(400, "InvalidParameterValueException",
                          f"Unsupported InvocationType: {invocation_type}")
        with self._lock:
            self.sync_invocations += 1
        result = self.functions.invoke(key, event_json=payload)
        if result.throttled:
            return _error(429, "TooManyRequestsException", "Rate Exceeded.")
        headers = {"X-Amz-Executed-Version": "$LATEST", "Content-Type": "application/json"}
        if not result.ok:
            headers["X-Amz-Function-Error"] = "Unhandled"
        return 200, headers, json.dumps(result.payload).encode()

    def stats(self) -> dict[str, Any]:
        invoker = self.async_invoker
        async_stats = dict(invoker.stats.__dict__) if invoker else {}
        if invoker is not None:
            async_stats["pending"] = invoker.pending()
        return {"sync_invocations": self.sync_invocations, "dry_runs": self.dry_runs, "async": async_stats}


def _error(status: int, error_type: str, message: str) -> tuple[int, dict[str, str], bytes]:
    return status, {"x-amzn-ErrorType": error_type, "Content-Type": "application/json"}, \
        json.dumps({"Type": "User", "Message": message}).encode()


class _Handler(BaseHTTPRequestHandler):
    server: LambdaApiServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("x-amzn-RequestId", self.headers.get("amz-sdk-invocation-id") or "local")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = urlsplit(self.path).path
        if not (path.startswith(INVOKE_PREFIX) and path.endswith(INVOKE_SUFFIX)):
            self._reply(*_error(404, "UnknownOperationException", f"not served locally: POST {path}"))
            return
        identifier = unquote(path[len(INVOKE_PREFIX):-len(INVOKE_SUFFIX)])
        invocation_type = self.headers.get("X-Amz-Invocation-Type") or "RequestResponse"
        try:
            reply = self.server.api.invoke(identifier, invocation_type, body)
        except Exception as exc:  # a runner bug must not leave boto3 waiting on a dead connection
            log.exception("invoke %s failed", identifier)
            reply = _error(500, "ServiceException", str(exc))
        self._reply(*reply)

    def do_GET(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._reply(*_error(404, "UnknownOperationException", f"not served locally: GET {self.path}"))


class LambdaApiServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, api: LambdaApi, host: str, port: int = 0) -> None:
        self.api = api
        super().__init__((host, port), _Handler)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="lambda-api", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self.shutdown()
            self._thread.join(5)
        self.server_close()
        self.api.stop()

