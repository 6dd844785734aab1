"""A small OpenAI-protocol server for tests: real HTTP on 127.0.0.1, scripted behaviours, recorded requests.

Speaks ``POST /v1/chat/completions`` (JSON, or ``text/event-stream`` chunks with ``"stream": true``, a usage
chunk when ``stream_options.include_usage``, then ``data: [DONE]``) and ``POST /v1/embeddings`` (deterministic
vectors from a hash of each text, honouring ``dimensions`` and ``encoding_format``). Every request must carry
``Authorization: Bearer <api_key>`` (401 otherwise).

Each endpoint has a FIFO of scripted behaviours (:class:`Behaviour`); when it is empty, chat answers plausibly,
citing [1], and embeddings embed::

    with OpenAIStub() as stub:
        stub.script_chat(Behaviour.error(503), Behaviour.reply("It is [1]."))
        ...  # OpenAI(base_url=stub.url, api_key=stub.api_key)
        assert stub.requests[0].body["model"] == "gpt-test"
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import struct
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_ANSWER = "According to the course material, the answer is explained in the first passage [1]."
CHAT = "/v1/chat/completions"
EMBEDDINGS = "/v1/embeddings"

Content = str | Callable[[dict[str, Any]], str]


@dataclass(frozen=True)
class Behaviour:
    """One scripted reply. Build with the class methods."""

    kind: str  # "reply" | "error" | "raw" | "break"
    content: Content | None = None  # reply/break: the message (or a function of the request body)
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    raw: bytes = b""
    delay: float = 0.0  # seconds to sleep before answering
    break_after: int = 0  # break: chunks sent before the connection is dropped
    usage: tuple[int, int] | None = None  # (prompt, completion) tokens; None: estimated
    finish_reason: str = "stop"

    @classmethod
    def reply(cls, content: Content, *, usage: tuple[int, int] | None = None, delay: float = 0.0,
              finish_reason: str = "stop") -> Behaviour:
        """A normal completion (streamed in word chunks when the request streams)."""
        return cls("reply", content=content, usage=usage, delay=delay, finish_reason=finish_reason)

    @classmethod
    def error(cls, status: int, *, message: str | None = None, retry_after: float | None = None,
              delay: float = 0.0) -> Behaviour:
        """An OpenAI-style JSON error (429 carries ``Retry-After``; default 1 s)."""
        headers: tuple[tuple[str, str], ...] = ()
        if status == 429 or retry_after is not None:
            headers = (("Retry-After", str(retry_after if retry_after is not None else 1)),)
        body = {"error": {"message": message or f"stub error {status}", "type": _error_type(status),
                          "param": None, "code": None}}
        return cls("raw", status=status, raw=json.dumps(body).encode(), headers=headers, delay=delay)

    @classmethod
    def malformed(cls, body: str | bytes | dict[str, Any] = "this is not JSON {", *, status: int = 200) -> Behaviour:
        """A 200 (by default) whose body is not JSON (a string) or JSON missing the expected fields (a dict)."""
        raw = json.dumps(body).encode() if isinstance(body, dict) else (
            body.encode() if isinstance(body, str) else body)
        return cls("raw", status=status, raw=raw)

    @classmethod
    def slow(cls, seconds: float, content: Content = DEFAULT_ANSWER) -> Behaviour:
        """A reply sent only after ``seconds``."""
        return cls("reply", content=content, delay=seconds)

    @classmethod
    def broken_stream(cls, after_chunks: int, content: Content = DEFAULT_ANSWER) -> Behaviour:
        """Streams ``after_chunks`` chunks, then drops the connection (a non-streaming request: no reply at all)."""
        return cls("break", content=content, break_after=after_chunks)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any  # the parsed JSON (None when the body is not JSON)
    raw: bytes = field(repr=False, default=b"")

    def messages(self) -> list[dict[str, Any]]:
        return list((self.body or {}).get("messages") or [])

    def message(self, role: str) -> str:
        """The content of the first message of ``role`` (``""`` when none)."""
        for m in self.messages():
            if m.get("role") == role:
                return str(m.get("content") or "")
        return ""


def _error_type(status: int) -> str:
    return {400: "invalid_request_error", 401: "invalid_request_error", 404: "invalid_request_error",
            429: "rate_limit_exceeded"}.get(status, "server_error")


def embedding_for(text: str, dimensions: int) -> list[float]:
    """The stub's deterministic (unnormalised) vector for ``text``."""
    values: list[float] = []
    counter = 0
    while len(values) < dimensions:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        values.extend((v / 2**31) - 1.0 for v in struct.unpack("<8I", digest))
        counter += 1
    return values[:dimensions]


def _words(text: str) -> list[str]:
    """``text`` in stream chunks (a word and its trailing space each)."""
    chunks: list[str] = []
    current = ""
    for ch in text:
        current += ch
        if ch == " ":
            chunks.append(current)
            current = ""
    if current:
        chunks.append(current)
    return chunks


class OpenAIStub:
    """The server: ``with OpenAIStub() as stub: ... stub.url ...``."""

    def __init__(self, *, api_key: str = "sk-stub-test-key", model: str = "stub-model",
                 default_dimensions: int = 1536) -> None:
        self.api_key = api_key
        self.model = model
        self.default_dimensions = default_dimensions
        self._lock = threading.Lock()
        self._scripts: dict[str, deque[Behaviour]] = {CHAT: deque(), EMBEDDINGS: deque()}
        self._requests: list[RecordedRequest] = []
        self._closing = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> OpenAIStub:
        stub = self

        class Handler(_Handler):
            owner = stub

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="openai-stub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._closing.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> OpenAIStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "the stub is not running"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # ------------------------------------------------------------------ scripting and records

    def script_chat(self, *behaviours: Behaviour) -> None:
        with self._lock:
            self._scripts[CHAT].extend(behaviours)

    def script_embeddings(self, *behaviours: Behaviour) -> None:
        with self._lock:
            self._scripts[EMBEDDINGS].extend(behaviours)

    def pending(self, path: str = CHAT) -> int:
        with self._lock:
            return len(self._scripts[path])

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path]

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return self.requests_to(CHAT)

    @property
    def embedding_requests(self) -> list[RecordedRequest]:
        return self.requests_to(EMBEDDINGS)

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            for script in self._scripts.values():
                script.clear()

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _next(self, path: str) -> Behaviour | None:
        with self._lock:
            script = self._scripts.get(path)
            return script.popleft() if script else None

    def _sleep(self, seconds: float) -> bool:
        """Sleep unless the stub is closing; False when it is."""
        return not self._closing.wait(seconds) if seconds > 0 else not self._closing.is_set()


class _Handler(BaseHTTPRequestHandler):
    owner: OpenAIStub
    protocol_version = "HTTP/1.1"
    server_version = "OpenAIStub/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    # ------------------------------------------------------------------ plumbing

    def _send(self, status: int, body: bytes, *, content_type: str = "application/json",
              headers: tuple[tuple[str, str], ...] = ()) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _json(self, status: int, payload: Any, headers: tuple[tuple[str, str], ...] = ()) -> None:
        self._send(status, json.dumps(payload).encode(), headers=headers)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _drop(self) -> None:
        """Close the connection abruptly (mid-response)."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # ------------------------------------------------------------------ requests

    def do_GET(self) -> None:
        self._json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        path = self.path.split("?", 1)[0]
        stub = self.owner
        stub._record(RecordedRequest(method="POST", path=path, headers={k.lower(): v for k, v in self.headers.items()},
                                     body=body, raw=raw))
        try:
            if self.headers.get("Authorization") != f"Bearer {stub.api_key}":
                self._json(401, {"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error",
                                           "param": None, "code": "invalid_api_key"}})
                return
            if path not in (CHAT, EMBEDDINGS):
                self._json(404, {"error": {"message": f"unknown path {path}", "type": "invalid_request_error"}})
                return
            if not isinstance(body, dict):
                self._json(400, {"error": {"message": "the body is not a JSON object",
                                           "type": "invalid_request_error"}})
                return
            behaviour = stub._next(path) or Behaviour.reply(DEFAULT_ANSWER)
            if behaviour.delay and not stub._sleep(behaviour.delay):
                self._drop()
                return
            if behaviour.kind == "raw":
                self._send(behaviour.status, behaviour.raw, headers=behaviour.headers)
            elif path == CHAT:
                self._chat(body, behaviour)
            else:
                self._embeddings(body, behaviour)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (e.g. its timeout)

    def _content(self, body: dict[str, Any], behaviour: Behaviour) -> str:
        content = behaviour.content if behaviour.content is not None else DEFAULT_ANSWER
        return content(body) if callable(content) else content

    def _usage(self, body: dict[str, Any], text: str, behaviour: Behaviour) -> dict[str, int]:
        if behaviour.usage is not None:
            prompt, completion = behaviour.usage
        else:
            prompt = max(1, len(json.dumps(body.get("messages", ""))) // 4)
            completion = max(1, len(text) // 4)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def _chat(self, body: dict[str, Any], behaviour: Behaviour) -> None:
        text = self._content(body, behaviour)
        model = str(body.get("model") or self.owner.model)
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        usage = self._usage(body, text, behaviour)
        if not body.get("stream"):
            if behaviour.kind == "break":
                self._drop()
                return
            self._json(200, {
                "id": completion_id, "object": "chat.completion", "created": created, "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "finish_reason": behaviour.finish_reason, "logprobs": None}],
                "usage": usage,
            })
            return

        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def event(payload: Any) -> bytes:
            data = payload if isinstance(payload, str) else json.dumps(payload)
            return f"data: {data}\n\n".encode()

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

        events = [event(chunk({"role": "assistant", "content": ""}))]
        events += [event(chunk({"content": piece})) for piece in _words(text)]
        events.append(event(chunk({}, behaviour.finish_reason)))
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append(event({"id": completion_id, "object": "chat.completion.chunk", "created": created,
                                 "model": model, "choices": [], "usage": usage}))
        events.append(event("[DONE]"))
        for sent, data in enumerate(events):
            if behaviour.kind == "break" and sent >= behaviour.break_after + 1:  # +1: the role chunk
                self._drop()
                return
            self._chunk(data)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _embeddings(self, body: dict[str, Any], behaviour: Behaviour) -> None:
        if behaviour.kind == "break":
            self._drop()
            return
        inputs = body.get("input")
        texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
        dimensions = int(body.get("dimensions") or self.owner.default_dimensions)
        base64_format = body.get("encoding_format") == "base64"
        data = []
        for index, text in enumerate(texts):
            vector = embedding_for(str(text), dimensions)
            embedding: Any = (base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode()
                              if base64_format else vector)
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        tokens = sum(max(1, len(str(t)) // 4) for t in texts)
        self._json(200, {"object": "list", "data": data, "model": str(body.get("model") or self.owner.model),
                         "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})
