"""One Lambda execution environment: ``python -m localcloud.worker`` (started by :mod:`localcloud.workers`).

Protocol over the process's original stdin/stdout: frames of a 4-byte
big-endian length followed by that many bytes of JSON. After start-up the
worker moves its own stdout to stderr, so whatever the handler prints goes to
the function's log, never into the protocol.

1. worker -> parent: ``{"type": "ready", "init_ms": ...}`` or ``{"type": "init_error", "error": {...}}``
2. parent -> worker: ``{"type": "invoke", "request_id", "event", "deadline_ms", "invoked_function_arn"}``
3. worker -> parent: ``{"type": "result", "ok": true, "result": ...}`` or ``{"ok": false, "error": {...}}``
   (each with ``max_memory_mb``), then back to 2 until stdin closes.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import struct
import sys
import time
import traceback
from typing import Any, BinaryIO

HEADER = struct.Struct(">I")


def read_frame(stream: BinaryIO) -> dict[str, Any] | None:
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        return None
    (size,) = HEADER.unpack(header)
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            return None
        data += chunk
    return json.loads(data)


def write_frame(stream: BinaryIO, message: dict[str, Any]) -> None:
    data = json.dumps(message, separators=(",", ":")).encode()
    stream.write(HEADER.pack(len(data)) + data)
    stream.flush()


def error_payload(exc: BaseException, error_type: str | None = None) -> dict[str, Any]:
    return {
        "errorMessage": str(exc),
        "errorType": error_type or type(exc).__name__,
        "requestId": "",
        "stackTrace": traceback.format_list([f for f in traceback.extract_tb(exc.__traceback__)
                                             if f.filename != __file__]),
    }


class LambdaContext:
    """The attributes and method of the Python runtime's context object."""

    def __init__(self, request_id: str, deadline_ms: int, invoked_function_arn: str) -> None:
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.invoked_function_arn = invoked_function_arn
        self.aws_request_id = request_id
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def _max_memory_mb() -> int:
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def _shield_stdlib(task_paths: list[str]) -> None:
    """Import standard modules that the task's top-level packages would shadow, and say so.

    A package named like a standard module (``platform``, ``email``...) at the
    root of the code asset hides that module from every library: boto3 then
    fails at import. The local runner keeps working but warns loudly, because
    the same layout is fragile in AWS Lambda.
    """
    shadowed = sorted({
        entry.removesuffix(".py") for path in task_paths if os.path.isdir(path) for entry in os.listdir(path)
        if entry.removesuffix(".py") in sys.stdlib_module_names
    })
    if not shadowed:
        return
    print(f"[localcloud] WARNING: {', '.join(shadowed)} in the code/layers shadow(s) standard library "
          "module(s) of the same name; rename them (this breaks imports in AWS Lambda too)", file=sys.stderr)
    saved = list(sys.path)
    sys.path[:] = [p for p in sys.path if p not in task_paths and p not in ("", ".", os.getcwd())]
    try:
        for name in shadowed:
            if name not in sys.modules:
                with contextlib.suppress(ImportError):
                    importlib.import_module(name)
    finally:
        sys.path[:] = saved


def _load_handler() -> Any:
    module_name, _, attr = os.environ["_HANDLER"].rpartition(".")
    return getattr(importlib.import_module(module_name), attr)


def main() -> int:
    proto_in = os.fdopen(os.dup(0), "rb", buffering=0)
    proto_out = os.fdopen(os.dup(1), "wb", buffering=0)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)  # print() now goes to the function log
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]

    # This package's own directory must not leak into the function's import path.
    own_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != own_root]
    task_paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != own_root]
    _shield_stdlib(task_paths)

    started = time.perf_counter()
    try:
        handler = _load_handler()
    except Exception as exc:
        error_type = "Runtime.ImportModuleError" if isinstance(exc, ImportError) else "Runtime.HandlerNotFound" \
            if isinstance(exc, AttributeError) else f"Runtime.{type(exc).__name__}"
        traceback.print_exc()
        write_frame(proto_out, {"type": "init_error", "error": error_payload(exc, error_type),
                                "init_ms": (time.perf_counter() - started) * 1000})
        return 1
    write_frame(proto_out, {"type": "ready", "init_ms": (time.perf_counter() - started) * 1000})

    while (message := read_frame(proto_in)) is not None:
        request_id = message["request_id"]
        context = LambdaContext(request_id, message["deadline_ms"], message["invoked_function_arn"])
        print(f"START RequestId: {request_id} Version: $LATEST")
        try:
            reply: dict[str, Any] = {"type": "result", "ok": True, "result": handler(message["event"], context)}
        except Exception as exc:
            traceback.print_exc()
            reply = {"type": "result", "ok": False, "error": error_payload(exc)}
        print(f"END RequestId: {request_id}")
        reply["max_memory_mb"] = _max_memory_mb()
        try:
            write_frame(proto_out, reply)
        except (TypeError, ValueError) as exc:  # the result is not JSON: nothing was written yet
            write_frame(proto_out, {"type": "result", "ok": False, "max_memory_mb": reply["max_memory_mb"],
                                    "error": error_payload(exc, "Runtime.MarshalError")})
    return 0


if __name__ == "__main__":
    sys.exit(main())
