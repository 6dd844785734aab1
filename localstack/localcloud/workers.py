"""Lambda functions as pools of warm worker processes.

Each function gets a :class:`FunctionPool`: worker processes
(``python -m localcloud.worker``) started on first use with the function's
own environment and import path, reused while warm, at most
``max_concurrency`` at a time (more requests wait, then are throttled), and
stopped after ``idle_ttl`` seconds unused. A worker that exceeds the
function's timeout is killed and replaced on the next invocation.

Every invocation is timed; cold starts also record the init duration (import
of the handler module). Figures are available from :meth:`WorkerManager.stats`
and each invocation logs a Lambda-like ``REPORT`` line.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from localcloud.worker import HEADER

log = logging.getLogger("localcloud.lambda")

PACKAGE_ROOT = Path(__file__).resolve().parent.parent  # holds the localcloud package, for ``-m localcloud.worker``
INIT_TIMEOUT_SECONDS = 10.0  # Lambda's init phase limit; the handler's own timeout is added on top
DEFAULT_MAX_CONCURRENCY = 4
DEFAULT_IDLE_TTL_SECONDS = 300.0


class Throttled(Exception):
    pass


@dataclass
class FunctionSpec:
    """Everything needed to start a worker of one function."""

    key: str  # the template's qualified id
    name: str  # display / catalogue name (stats, logs)
    function_name: str  # AWS_LAMBDA_FUNCTION_NAME
    arn: str
    handler: str
    code_dir: Path
    layer_dirs: list[Path]
    environment: dict[str, str]  # complete, as the worker sees it
    timeout: float = 3.0
    memory_mb: int = 128
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY


def build_environment(*, template_env: dict[str, str], overrides: dict[str, str], function_name: str,
                      handler: str, code_dir: Path, layer_dirs: list[Path], memory_mb: int,
                      region: str = "us-east-1") -> dict[str, str]:
    """The worker's environment: template variables, local stand-ins, overrides, then Lambda's reserved ones."""
    env = {"PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"), "LANG": "C.UTF-8", "TZ": "UTC"}
    env.update(template_env)
    env.update({
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
        "AWS_REGION": region, "AWS_DEFAULT_REGION": region,
        "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon here
    })
    env.update(overrides)
    if template_env.get("DB_NAME") and overrides.get("DATABASE_URL"):
        env["DATABASE_URL"] = f"{overrides['DATABASE_URL'].rstrip('/')}/{template_env['DB_NAME']}"
    env.update({
        "AWS_LAMBDA_FUNCTION_NAME": function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function_name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "localcloud",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "_HANDLER": handler,
        "LAMBDA_TASK_ROOT": str(code_dir),
        "PYTHONPATH": os.pathsep.join([str(code_dir), *map(str, layer_dirs), str(PACKAGE_ROOT)]),
        "PYTHONUNBUFFERED": "1",
    })
    return env


@dataclass
class InvokeResult:
    request_id: str
    ok: bool
    payload: Any  # the handler's result, or the error object {errorMessage, errorType, stackTrace}
    payload_bytes: int = 0
    duration_ms: float = 0.0
    init_ms: float | None = None  # set on a cold start
    timed_out: bool = False
    throttled: bool = False


@dataclass
class FunctionStats:
    invocations: int = 0
    errors: int = 0
    timeouts: int = 0
    throttles: int = 0
    cold_starts: int = 0
    init_ms: deque[float] = field(default_factory=lambda: deque(maxlen=100))
    duration_ms: deque[float] = field(default_factory=lambda: deque(maxlen=1000))

    def as_dict(self) -> dict[str, Any]:
        def pct(values: deque[float], q: float) -> float | None:
            if not values:
                return None
            ordered = sorted(values)
            return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

        return {
            "invocations": self.invocations, "errors": self.errors, "timeouts": self.timeouts,
            "throttles": self.throttles, "cold_starts": self.cold_starts,
            "init_ms_last": round(self.init_ms[-1], 2) if self.init_ms else None,
            "init_ms_median": round(statistics.median(self.init_ms), 2) if self.init_ms else None,
            "duration_ms_p50": pct(self.duration_ms, 0.5), "duration_ms_p95": pct(self.duration_ms, 0.95),
            "duration_ms_max": round(max(self.duration_ms), 2) if self.duration_ms else None,
        }


class WorkerDied(Exception):
    pass


def _read_exact(fd: int, size: int, deadline: float) -> bytes:
    buffer = bytearray()
    while len(buffer) < size:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            raise TimeoutError
        chunk = os.read(fd, size - len(buffer))
        if not chunk:
            raise WorkerDied("worker exited")
        buffer += chunk
    return bytes(buffer)


class Worker:
    """One worker process: one invocation at a time."""

    def __init__(self, spec: FunctionSpec, python: str, log_file: IO[bytes] | None) -> None:
        self.spec = spec
        self.proc = subprocess.Popen(
            [python, "-m", "localcloud.worker"], cwd=spec.code_dir, env=spec.environment,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log_file, bufsize=0, start_new_session=True,
        )
        self.last_used = time.monotonic()
        self.init_ms = 0.0

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read_frame(self, deadline: float) -> tuple[dict[str, Any], int]:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        (size,) = HEADER.unpack(_read_exact(fd, HEADER.size, deadline))
        data = _read_exact(fd, size, deadline)
        return json.loads(data), size

    def wait_ready(self) -> dict[str, Any] | None:
        """None when ready, else the init error object."""
        try:
            message, _ = self._read_frame(time.monotonic() + INIT_TIMEOUT_SECONDS + self.spec.timeout)
        except TimeoutError:
            return {"errorMessage": "Init phase timed out", "errorType": "Runtime.InitTimeout"}
        except WorkerDied:
            return {"errorMessage": f"worker exited with {self.proc.wait()} during init",
                    "errorType": "Runtime.ExitError"}
        self.init_ms = float(message.get("init_ms", 0.0))
        return None if message.get("type") == "ready" else message.get("error")

    def invoke(self, request_id: str, event_json: bytes, timeout: float) -> tuple[dict[str, Any], int]:
        deadline = time.monotonic() + timeout
        head = json.dumps({"type": "invoke", "request_id": request_id, "invoked_function_arn": self.spec.arn,
                           "deadline_ms": int((time.time() + timeout) * 1000)})
        frame = head[:-1].encode() + b',"event":' + event_json + b"}"
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(HEADER.pack(len(frame)) + frame)
        except BrokenPipeError as exc:
            raise WorkerDied("worker exited") from exc
        return self._read_frame(deadline)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, *, kill: bool = False) -> None:
        if self.proc.poll() is None:
            if kill:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
            else:
                with contextlib.suppress(OSError):
                    self.proc.stdin.close()  # type: ignore[union-attr]
                try:
                    self.proc.wait(2)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        for stream in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError):
                stream.close()  # type: ignore[union-attr]


class FunctionPool:
    def __init__(self, spec: FunctionSpec, python: str, log_dir: Path | None, queue_wait: float) -> None:
        self.spec = spec
        self.python = python
        self.queue_wait = queue_wait
        self.stats = FunctionStats()
        self._idle: list[Worker] = []
        self._busy = 0
        self._starting = 0
        self._cond = threading.Condition()
        self._closed = False
        self._log_file: IO[bytes] | None = None
        if log_dir is not None:
            log_dir.mkdir(parents=True, exist_ok=True)
            self._log_file = open(log_dir / f"{spec.name}.log", "ab", buffering=0)  # noqa: SIM115

    # ------------------------------------------------------------------ pool

    def _acquire(self) -> Worker | None:
        """A warm worker, or None when the caller may start a new one (a slot is reserved)."""
        deadline = time.monotonic() + self.queue_wait
        with self._cond:
            while True:
                if self._closed:
                    raise Throttled("function pool is stopped")
                if self._idle:
                    worker = self._idle.pop()
                    self._busy += 1
                    return worker
                if self._busy + self._starting < self.spec.max_concurrency:
                    self._starting += 1
                    return None
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise Throttled(f"{self.spec.name}: {self.spec.max_concurrency} concurrent executions busy")
                self._cond.wait(remaining)

    def _started(self, worker: Worker | None) -> None:
        with self._cond:
            self._starting -= 1
            if worker is not None:
                self._busy += 1
            self._cond.notify()

    def _release(self, worker: Worker, healthy: bool) -> None:
        if not healthy:
            worker.stop(kill=True)
        with self._cond:
            self._busy -= 1
            if healthy and not self._closed:
                worker.last_used = time.monotonic()
                self._idle.append(worker)
            self._cond.notify()
        if healthy and self._closed:
            worker.stop()

    # ------------------------------------------------------------------ invoke

    def invoke(self, event_json: bytes, request_id: str | None = None) -> InvokeResult:
        request_id = request_id or str(uuid.uuid4())
        try:
            worker = self._acquire()
        except Throttled as exc:
            with self._cond:
                self.stats.throttles += 1
            return InvokeResult(request_id, False, {"errorMessage": str(exc), "errorType": "TooManyRequestsException"},
                                throttled=True)
        init_ms: float | None = None
        if worker is None:
            worker = Worker(self.spec, self.python, self._log_file)
            error = worker.wait_ready()
            if error is not None:
                self._started(None)
                worker.stop(kill=True)
                with self._cond:
                    self.stats.invocations += 1
                    self.stats.errors += 1
                log.error("%s: init failed: %s", self.spec.name, error.get("errorMessage"))
                return InvokeResult(request_id, False, error, init_ms=worker.init_ms)
            self._started(worker)
            init_ms = worker.init_ms
            with self._cond:
                self.stats.cold_starts += 1
                self.stats.init_ms.append(init_ms)
        started = time.perf_counter()
        try:
            reply, size = worker.invoke(request_id, event_json, self.spec.timeout)
            result = InvokeResult(request_id, bool(reply.get("ok")),
                                  reply.get("result") if reply.get("ok") else reply.get("error"), size)
            memory = int(reply.get("max_memory_mb", 0))
            healthy = True
        except TimeoutError:
            result = InvokeResult(request_id, False, {
                "errorMessage": f"{request_id} Task timed out after {self.spec.timeout:.2f} seconds",
                "errorType": "Sandbox.Timedout"}, timed_out=True)
            memory, healthy = 0, False
        except WorkerDied:
            result = InvokeResult(request_id, False, {
                "errorMessage": f"RequestId: {request_id} Error: Runtime exited with {worker.proc.wait()}",
                "errorType": "Runtime.ExitError"})
            memory, healthy = 0, False
        result.duration_ms = (time.perf_counter() - started) * 1000
        result.init_ms = init_ms
        self._release(worker, healthy)
        self._record(result, memory)
        return result

    def _record(self, result: InvokeResult, memory_mb: int) -> None:
        stats = self.stats
        with self._cond:
            stats.invocations += 1
            stats.errors += 0 if result.ok else 1
            stats.timeouts += 1 if result.timed_out else 0
            stats.duration_ms.append(result.duration_ms)
        init = f"\tInit Duration: {result.init_ms:.2f} ms" if result.init_ms is not None else ""
        line = (f"REPORT RequestId: {result.request_id}\tDuration: {result.duration_ms:.2f} ms\t"
                f"Billed Duration: {int(result.duration_ms) + 1} ms\tMemory Size: {self.spec.memory_mb} MB\t"
                f"Max Memory Used: {memory_mb} MB{init}")
        if result.timed_out:
            line += "\tStatus: timeout"
        log.info("%s %s", self.spec.name, line)
        if self._log_file is not None:
            with contextlib.suppress(OSError):
                self._log_file.write(line.encode() + b"\n")

    # ------------------------------------------------------------------ lifecycle

    def reap(self, idle_ttl: float) -> int:
        now = time.monotonic()
        with self._cond:
            expired = [w for w in self._idle if now - w.last_used > idle_ttl or not w.alive()]
            self._idle = [w for w in self._idle if w not in expired]
        for worker in expired:
            worker.stop()
        return len(expired)

    def snapshot(self) -> dict[str, Any]:
        with self._cond:
            return {**self.stats.as_dict(), "workers": {"idle": len(self._idle), "busy": self._busy + self._starting},
                    "timeout_s": self.spec.timeout, "memory_mb": self.spec.memory_mb,
                    "max_concurrency": self.spec.max_concurrency}

    def pids(self) -> list[int]:
        with self._cond:
            return [w.pid for w in self._idle]

    def stop(self) -> None:
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._cond.notify_all()
        for worker in idle:
            worker.stop()
        if self._log_file is not None:
            self._log_file.close()


class WorkerManager:
    """All functions' pools, plus the reaper of idle workers."""

    def __init__(self, specs: list[FunctionSpec], *, python: str = sys.executable, log_dir: Path | None = None,
                 idle_ttl: float = DEFAULT_IDLE_TTL_SECONDS, queue_wait: float = 30.0) -> None:
        self.pools = {spec.key: FunctionPool(spec, python, log_dir, queue_wait) for spec in specs}
        self.idle_ttl = idle_ttl
        self._stopping = threading.Event()
        self._reaper = threading.Thread(target=self._reap_loop, name="localcloud-reaper", daemon=True)

    def start(self) -> None:
        self._reaper.start()

    def invoke(self, key: str, event: Any = None, *, event_json: bytes | None = None,
               request_id: str | None = None) -> InvokeResult:
        if event_json is None:
            event_json = json.dumps(event, separators=(",", ":")).encode()
        return self.pools[key].invoke(event_json, request_id)

    def _reap_loop(self) -> None:
        interval = max(0.2, min(5.0, self.idle_ttl / 4))
        while not self._stopping.wait(interval):
            for pool in self.pools.values():
                reaped = pool.reap(self.idle_ttl)
                if reaped:
                    log.debug("%s: stopped %d idle worker(s)", pool.spec.name, reaped)

    def stats(self) -> dict[str, dict[str, Any]]:
        return {pool.spec.name: pool.snapshot() for pool in self.pools.values()}

    def stop(self) -> None:
        self._stopping.set()
        if self._reaper.is_alive():
            self._reaper.join(5)
        for pool in self.pools.values():
            pool.stop()
