"""Lambda functions as pools of warm worker processes.

Each function gets a :class:`FunctionPool`: worker processes
(``python -m localcloud.worker``) started on first use with the function's
own environment and import path, reused while warm, at most
``max_concurrency`` at a time (more requests wait, then are throttled), and
stopped after ``idle_ttl`` seconds unused. A worker that exceeds the
function's timeout is killed and replaced on the next invocation.

Fairness on a few shared cores (Lambda gives each execution environment CPU
of its own; here every worker shares the machine): a function whose
invocations are measured as CPU-bound (:data:`HEAVY_CPU_MS` of CPU per
invocation, e.g. password hashing) is *heavy*: each of its invocations runs
only while holding one of :class:`CpuSlots` (two per core, first come first
served, shared by all functions) and its workers run at a lower CPU priority
(:data:`HEAVY_NICE`). Every other function (the authorizer, the reads and
writes that mostly wait for the database) never waits for a slot, so a burst
of heavy invocations queues behind itself instead of starving them. Worker
start-ups (and the start of their first invocation) are CPU-bound too: as
many at once as there are cores, and a pool adds a worker only after a
request waited :data:`SCALE_OUT_AFTER_SECONDS` and a start slot is free (while
the CPU is saturated: :data:`SATURATED_SCALE_OUT_AFTER_SECONDS`, and never while
every busy worker of the function is computing). A function may keep warm
workers (``FunctionSpec.warm_workers``: the runner gives them to the authorizer),
started with the manager and never reaped. A caller
may give a deadline (the gateway: API Gateway's integration timeout): an
invocation that has not answered by then, queued or running, returns an
``expired`` result at the deadline instead of keeping the caller waiting.

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
# An invocation using this much CPU (user + system, all threads) marks its function CPU-bound; a warm read or
# write here uses a few ms, an AI search (one query embedding) ~45 ms, an argon2id hash ~180 ms. Below the
# search on purpose: a CPU-bound invocation queues for a slot behind the hashes, which cost a search seconds.
HEAVY_CPU_MS = 100.0
HEAVY_NICE = 2  # CFS weight 0.64 of a normal process: light functions come first, hashing keeps most of its share
# A function's CPU figure: the median of its last few measured invocations, once there are enough of them. A
# single outlier (the first use of a worker's database connection, say) must not mark a light function heavy: a
# niced worker stays niced.
CPU_SAMPLES = 5
CPU_MIN_SAMPLES = 3
WARM_UP_SLOT_SECONDS = 0.5  # at most this long does a new worker's first invocation count as its warm-up
CPU_SLOTS_PER_CORE = 2
SCALE_OUT_AFTER_SECONDS = 0.25  # how long a request waits for a busy worker before another one is started
# ... while the CPU is saturated (more runnable tasks than CPU_SATURATED_PER_CORE per core): a worker's start
# costs a CPU-second or more of imports, and another worker of a function held up by the CPU only adds to it.
SATURATED_SCALE_OUT_AFTER_SECONDS = 5.0
RECHECK_SECONDS = 0.25  # how often a waiting request looks again whether a busy worker still computes
CPU_SATURATED_PER_CORE = 2
WARM_UP_TIMEOUT_SECONDS = 30.0  # a pre-started worker's init and warm-up invocation, off any request's path


class Throttled(Exception):
    pass


class CpuSlots:
    """At most ``size`` CPU-bound invocations at once across every function, served in arrival order."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._free = size
        self._queue: deque[object] = deque()
        self._cond = threading.Condition()

    def acquire(self, deadline: float) -> bool:
        """Take a slot; False when ``deadline`` (``time.monotonic()``) passes first."""
        ticket = object()
        with self._cond:
            self._queue.append(ticket)
            try:
                while self._free <= 0 or self._queue[0] is not ticket:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._cond.wait(remaining)
                self._free -= 1
                return True
            finally:
                self._queue.remove(ticket)
                self._cond.notify_all()  # the next in line re-checks

    def release(self) -> None:
        with self._cond:
            self._free += 1
            self._cond.notify_all()

    @property
    def waiting(self) -> int:
        with self._cond:
            return len(self._queue)


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def runnable_tasks() -> int | None:
    """Tasks running or waiting for a CPU right now, machine-wide (``/proc/loadavg``); None off Linux."""
    try:
        with open("/proc/loadavg", "rb") as loadavg:
            return int(loadavg.read().split()[3].split(b"/")[0])
    except (OSError, IndexError, ValueError):
        return None


def computing_now(worker: Worker) -> bool:
    """Whether any thread of the worker is running or waiting for a CPU (not waiting for I/O, a lock, a sleep)."""
    try:
        tasks = os.listdir(f"/proc/{worker.pid}/task")
    except OSError:
        return False
    for task in tasks:
        try:
            with open(f"/proc/{worker.pid}/task/{task}/stat", "rb") as stat:
                if stat.read().rsplit(b")", 1)[1].split()[0] == b"R":
                    return True
        except (OSError, IndexError):
            continue
    return False


def cpu_saturated() -> bool:
    running = runnable_tasks()
    return running is not None and running > CPU_SATURATED_PER_CORE * (os.cpu_count() or 1)


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system, every thread, exited ones included) of a process so far; None off Linux."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime, stime: fields 14 and 15 of proc(5)


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
    # Workers started with the runner and never reaped (provisioned concurrency), each after ``warm_event`` (when
    # set) has run once on it, so that what the handler imports on first use is loaded too.
    warm_workers: int = 0
    warm_event: bytes | None = None


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
    # The caller's deadline passed before the function answered (queued, waiting for a CPU slot, or running).
    expired: bool = False


@dataclass
class FunctionStats:
    invocations: int = 0
    errors: int = 0
    timeouts: int = 0
    throttles: int = 0
    expired: int = 0
    cold_starts: int = 0
    init_ms: deque[float] = field(default_factory=lambda: deque(maxlen=100))
    duration_ms: deque[float] = field(default_factory=lambda: deque(maxlen=1000))
    cpu_wait_ms: deque[float] = field(default_factory=lambda: deque(maxlen=1000))  # heavy functions only
    cpu_samples: deque[float] = field(default_factory=lambda: deque(maxlen=CPU_SAMPLES))
    cpu_ms: float | None = None  # CPU per warm invocation (median of cpu_samples)
    heavy: bool = False

    def as_dict(self) -> dict[str, Any]:
        def pct(values: deque[float], q: float) -> float | None:
            if not values:
                return None
            ordered = sorted(values)
            return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

        return {
            "invocations": self.invocations, "errors": self.errors, "timeouts": self.timeouts,
            "throttles": self.throttles, "expired": self.expired, "cold_starts": self.cold_starts,
            "heavy": self.heavy, "cpu_ms": round(self.cpu_ms, 1) if self.cpu_ms is not None else None,
            "cpu_wait_ms_p95": pct(self.cpu_wait_ms, 0.95),
            "init_ms_last": round(self.init_ms[-1], 2) if self.init_ms else None,
            "init_ms_median": round(statistics.median(self.init_ms), 2) if self.init_ms else None,
            "duration_ms_p50": pct(self.duration_ms, 0.5), "duration_ms_p95": pct(self.duration_ms, 0.95),
            "duration_ms_max": round(max(self.duration_ms), 2) if self.duration_ms else None,
        }


class WorkerDied(Exception):
    pass


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
        self.invocations = 0
        self.niced = False
        self._received = bytearray()  # read but not yet a whole frame: a reply may be awaited in several steps

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _fill(self, size: int, deadline: float) -> None:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while len(self._received) < size:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise TimeoutError
            chunk = os.read(fd, size - len(self._received))
            if not chunk:
                raise WorkerDied("worker exited")
            self._received += chunk

    def _read_frame(self, deadline: float) -> tuple[dict[str, Any], int]:
        """The next frame; on TimeoutError what arrived so far is kept for the next call."""
        self._fill(HEADER.size, deadline)
        (size,) = HEADER.unpack_from(self._received)
        self._fill(HEADER.size + size, deadline)
        data = bytes(self._received[HEADER.size:HEADER.size + size])
        del self._received[:HEADER.size + size]
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

    def lower_priority(self) -> None:
        """Nice the worker (threads it starts later inherit it); a process may lower its own priority only."""
        if not self.niced:
            self.niced = True
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, self.proc.pid, HEAVY_NICE)

    def send(self, request_id: str, event_json: bytes, timeout: float) -> None:
        """Start an invocation; the handler's context has ``timeout`` seconds (the function's)."""
        head = json.dumps({"type": "invoke", "request_id": request_id, "invoked_function_arn": self.spec.arn,
                           "deadline_ms": int((time.time() + timeout) * 1000)})
        frame = head[:-1].encode() + b',"event":' + event_json + b"}"
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(HEADER.pack(len(frame)) + frame)
        except BrokenPipeError as exc:
            raise WorkerDied("worker exited") from exc

    def reply(self, deadline: float) -> tuple[dict[str, Any], int]:
        """The invocation's reply; TimeoutError at ``deadline`` (``time.monotonic()``)."""
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
    def __init__(self, spec: FunctionSpec, python: str, log_dir: Path | None, queue_wait: float,
                 cpu_slots: CpuSlots | None = None, init_slots: CpuSlots | None = None) -> None:
        self.spec = spec
        self.python = python
        self.queue_wait = queue_wait
        self.cpu_slots = cpu_slots or CpuSlots(os.cpu_count() or 1)
        self.init_slots = init_slots or CpuSlots(os.cpu_count() or 1)
        self.stats = FunctionStats()
        self._idle: list[Worker] = []
        self._busy = 0
        self._running: set[Worker] = set()  # the busy workers
        self._starting = 0
        self._cond = threading.Condition()
        self._closed = False
        self._log_file: IO[bytes] | None = None
        if log_dir is not None:
            log_dir.mkdir(parents=True, exist_ok=True)
            self._log_file = open(log_dir / f"{spec.name}.log", "ab", buffering=0)  # noqa: SIM115

    # ------------------------------------------------------------------ pool

    def _acquire(self, start_by: float) -> tuple[Worker | None, bool]:
        """(a warm worker, False), or (None, whether it is the pool's only one) when the caller may start a new one
        (a slot is reserved).

        Raises :class:`TimeoutError` when ``start_by`` passes with every execution busy, :class:`Throttled` when
        the pool is stopped.
        """
        arrived = time.monotonic()
        with self._cond:
            while True:
                if self._closed:
                    raise Throttled("function pool is stopped")
                if self._idle:
                    worker = self._idle.pop()
                    self._busy += 1
                    self._running.add(worker)
                    return worker, False
                now = time.monotonic()
                live = self._busy + self._starting
                # A cold start costs far more CPU than waiting briefly for a busy worker: scale out only when
                # none frees up soon (later while the CPU is saturated), and a CPU-bound function never past the
                # CPU slots it could use.
                room = live < self.spec.max_concurrency and not (self.stats.heavy and live >= self.cpu_slots.size)
                saturated = room and live > 0 and cpu_saturated()
                # Nor while the CPU is saturated and every busy worker computes (a first invocation loading a
                # model, say): another worker could not run either, and its start would take CPU from them. One
                # that waits (a query, a sleep) leaves room for another.
                computing = saturated and all(map(computing_now, self._running))
                room = room and not computing
                patience = SATURATED_SCALE_OUT_AFTER_SECONDS if saturated else SCALE_OUT_AFTER_SECONDS
                patience_left = arrived + patience - now if live else 0.0
                if room and patience_left <= 0:
                    self._starting += 1
                    return None, live == 0
                remaining = start_by - now
                if remaining <= 0:
                    raise TimeoutError(f"{self.spec.name}: {live} concurrent executions busy")
                # No notification tells when a worker stops computing: look again shortly.
                self._cond.wait(min(remaining, patience_left) if room else
                                min(remaining, RECHECK_SECONDS) if computing else remaining)

    def _started(self, worker: Worker | None) -> None:
        with self._cond:
            self._starting -= 1
            if worker is not None:
                self._busy += 1
                self._running.add(worker)
            self._cond.notify()

    def _release(self, worker: Worker, healthy: bool) -> None:
        if not healthy:
            worker.stop(kill=True)
        with self._cond:
            self._busy -= 1
            self._running.discard(worker)
            if healthy and not self._closed:
                worker.last_used = time.monotonic()
                self._idle.append(worker)
            self._cond.notify()
        if healthy and self._closed:
            worker.stop()

    def _not_started(self, request_id: str, reason: str, *, expired: bool) -> InvokeResult:
        """Never ran: past the caller's deadline (``expired``), else throttled as Lambda would."""
        with self._cond:
            if expired:
                self.stats.expired += 1
            else:
                self.stats.throttles += 1
        return InvokeResult(request_id, False, {"errorMessage": reason, "errorType": "TooManyRequestsException"},
                            throttled=not expired, expired=expired)

    def _measured(self, worker: Worker, cpu_before: float | None) -> None:
        """Fold the invocation's CPU into the function's figure; heavy once it passes :data:`HEAVY_CPU_MS`."""
        worker.invocations += 1
        cpu_after = cpu_seconds(worker.pid) if cpu_before is not None else None
        if cpu_before is None or cpu_after is None or worker.invocations == 1:
            return  # a worker's first invocation also pays for lazy imports: not the function's own cost
        used = (cpu_after - cpu_before) * 1000
        with self._cond:
            stats = self.stats
            stats.cpu_samples.append(used)
            stats.cpu_ms = statistics.median(stats.cpu_samples)
            heavy = len(stats.cpu_samples) >= CPU_MIN_SAMPLES and stats.cpu_ms >= HEAVY_CPU_MS
            became_heavy = heavy and not stats.heavy
            stats.heavy = heavy
            idle = list(self._idle)
        if became_heavy:
            # A niced worker stays niced (a process cannot raise its priority back); busy ones are niced on their
            # next invocation.
            log.info("%s: CPU-bound (%.0f ms of CPU per invocation): takes a CPU slot, runs niced",
                     self.spec.name, self.stats.cpu_ms)
            for other in [worker, *idle]:
                other.lower_priority()

    # ------------------------------------------------------------------ invoke

    def invoke(self, event_json: bytes, request_id: str | None = None,
               deadline: float | None = None) -> InvokeResult:
        """Run one invocation. ``deadline`` (``time.monotonic()``): answer by then at the latest (``expired``).

        Without a deadline a request waits ``queue_wait`` for a free execution, then is throttled.
        """
        request_id = request_id or str(uuid.uuid4())
        start_by = deadline if deadline is not None else time.monotonic() + self.queue_wait
        try:
            while True:
                worker, only = self._acquire(start_by)
                # A start (interpreter, imports, then the first invocation's lazy imports) is CPU-bound: as many
                # workers warm up at once as there are cores, apart from the slots of CPU-bound invocations. A
                # function's only worker waits its turn; another one starts only when a core is free right now,
                # else the request goes back to waiting for a busy worker.
                if worker is not None or self.init_slots.acquire(start_by if only else time.monotonic()):
                    break
                self._started(None)
        except Throttled as exc:
            return self._not_started(request_id, str(exc), expired=False)
        except TimeoutError as exc:
            return self._not_started(request_id, str(exc), expired=deadline is not None)
        init_ms: float | None = None
        slots: list[CpuSlots] = []  # held for the invocation; whoever finishes it gives them back
        if worker is None:
            slots.append(self.init_slots)
            worker = Worker(self.spec, self.python, self._log_file)
            if self.stats.heavy:
                worker.lower_priority()
            error = worker.wait_ready()
            if error is not None:
                self.init_slots.release()
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
        elif self.stats.heavy:
            worker.lower_priority()
            waited = time.perf_counter()
            got_slot = self.cpu_slots.acquire(start_by)
            with self._cond:
                self.stats.cpu_wait_ms.append((time.perf_counter() - waited) * 1000)
            if not got_slot:
                self._release(worker, True)
                return self._not_started(request_id, f"{self.spec.name}: no CPU slot free before the deadline",
                                         expired=deadline is not None)
            slots.append(self.cpu_slots)
        return self._run(worker, event_json, request_id, deadline, init_ms, slots)

    def _run(self, worker: Worker, event_json: bytes, request_id: str, deadline: float | None,
             init_ms: float | None, slots: list[CpuSlots]) -> InvokeResult:
        started = time.perf_counter()
        cpu_before = cpu_seconds(worker.pid)
        answer_by = time.monotonic() + self.spec.timeout
        answer_by = min(deadline, answer_by) if deadline is not None else answer_by
        try:
            worker.send(request_id, event_json, self.spec.timeout)
            if self.init_slots in slots:
                # A first invocation keeps its warm-up slot while it is busy with lazy imports, not while it waits
                # for something slow (a long sleep, a slow query): others' workers must start meanwhile.
                try:
                    reply, size = worker.reply(min(answer_by, time.monotonic() + WARM_UP_SLOT_SECONDS))
                except TimeoutError:
                    if time.monotonic() >= answer_by:
                        raise
                    slots.remove(self.init_slots)
                    self.init_slots.release()
                    reply, size = worker.reply(answer_by)
            else:
                reply, size = worker.reply(answer_by)
        except TimeoutError:
            elapsed = time.perf_counter() - started
            if deadline is not None and elapsed < self.spec.timeout:
                # The caller's deadline, not the function's timeout: answer the caller now; the function runs on
                # to its own timeout (as in AWS), still holding its worker and slots.
                threading.Thread(target=self._finish_late, args=(worker, request_id, started, cpu_before, slots),
                                 name=f"late-{self.spec.name}", daemon=True).start()
                result = InvokeResult(request_id, False, {
                    "errorMessage": f"{request_id}: not answered within the caller's deadline ({elapsed:.2f} s)",
                    "errorType": "Sandbox.Timedout"}, expired=True, duration_ms=elapsed * 1000, init_ms=init_ms)
                with self._cond:
                    self.stats.expired += 1
                return result
            return self._finished(worker, self._timed_out(request_id), 0, False, started, init_ms, slots)
        except WorkerDied:
            return self._finished(worker, self._died(worker, request_id), 0, False, started, init_ms, slots)
        self._measured(worker, cpu_before)
        result = InvokeResult(request_id, bool(reply.get("ok")),
                              reply.get("result") if reply.get("ok") else reply.get("error"), size)
        return self._finished(worker, result, int(reply.get("max_memory_mb", 0)), True, started, init_ms, slots)

    def _finish_late(self, worker: Worker, request_id: str, started: float, cpu_before: float | None,
                     slots: list[CpuSlots]) -> None:
        """The rest of an invocation whose caller stopped waiting: its answer is dropped, its costs are not."""
        try:
            reply, _ = worker.reply(time.monotonic() + max(0.0, self.spec.timeout - (time.perf_counter() - started)))
        except TimeoutError:
            self._finished(worker, self._timed_out(request_id), 0, False, started, None, slots)
            return
        except (WorkerDied, ValueError):
            self._finished(worker, self._died(worker, request_id), 0, False, started, None, slots)
            return
        self._measured(worker, cpu_before)
        result = InvokeResult(request_id, bool(reply.get("ok")), reply.get("result") if reply.get("ok") else
                              reply.get("error"))
        self._finished(worker, result, int(reply.get("max_memory_mb", 0)), True, started, None, slots)

    def _timed_out(self, request_id: str) -> InvokeResult:
        return InvokeResult(request_id, False, {
            "errorMessage": f"{request_id} Task timed out after {self.spec.timeout:.2f} seconds",
            "errorType": "Sandbox.Timedout"}, timed_out=True)

    @staticmethod
    def _died(worker: Worker, request_id: str) -> InvokeResult:
        if worker.alive():
            worker.stop(kill=True)  # its protocol stream is out of step
        return InvokeResult(request_id, False, {
            "errorMessage": f"RequestId: {request_id} Error: Runtime exited with {worker.proc.wait()}",
            "errorType": "Runtime.ExitError"})

    def _finished(self, worker: Worker, result: InvokeResult, memory_mb: int, healthy: bool, started: float,
                  init_ms: float | None, slots: list[CpuSlots]) -> InvokeResult:
        result.duration_ms = (time.perf_counter() - started) * 1000
        result.init_ms = init_ms
        self._release(worker, healthy)
        for slot in slots:
            slot.release()
        self._record(result, memory_mb)
        return result

    def _record(self, result: InvokeResult, memory_mb: int) -> None:
        stats = self.stats
        with self._cond:
            stats.invocations += 1
            stats.errors += 0 if result.ok else 1
            stats.timeouts += 1 if result.timed_out else 0
            stats.expired += 1 if result.expired else 0
            stats.duration_ms.append(result.duration_ms)
        init = f"\tInit Duration: {result.init_ms:.2f} ms" if result.init_ms is not None else ""
        line = (f"REPORT RequestId: {result.request_id}\tDuration: {result.duration_ms:.2f} ms\t"
                f"Billed Duration: {int(result.duration_ms) + 1} ms\tMemory Size: {self.spec.memory_mb} MB\t"
                f"Max Memory Used: {memory_mb} MB{init}")
        if result.timed_out or result.expired:
            line += "\tStatus: timeout"
        log.info("%s %s", self.spec.name, line)
        if self._log_file is not None:
            with contextlib.suppress(OSError):
                self._log_file.write(line.encode() + b"\n")

    # ------------------------------------------------------------------ lifecycle

    def prestart(self) -> int:
        """Start the function's warm workers (``spec.warm_workers``), one by one; how many are up."""
        started = 0
        for _ in range(self.spec.warm_workers):
            with self._cond:
                if self._closed:
                    break
                self._starting += 1
            worker: Worker | None = None
            if self.init_slots.acquire(time.monotonic() + WARM_UP_TIMEOUT_SECONDS):
                try:
                    worker = self._warmed_up()
                finally:
                    self.init_slots.release()
            with self._cond:
                self._starting -= 1
                if worker is not None and not self._closed:
                    self._idle.append(worker)
                    started += 1
                    worker = None
                self._cond.notify()
            if worker is not None:
                worker.stop()
        return started

    def _warmed_up(self) -> Worker | None:
        worker = Worker(self.spec, self.python, self._log_file)
        try:
            if worker.wait_ready() is not None:
                raise WorkerDied("init failed")
            with self._cond:
                self.stats.cold_starts += 1
                self.stats.init_ms.append(worker.init_ms)
            if self.spec.warm_event is not None:
                worker.send(f"warm-up-{uuid.uuid4()}", self.spec.warm_event, self.spec.timeout)
                worker.reply(time.monotonic() + WARM_UP_TIMEOUT_SECONDS)  # its answer (often an error) is moot
                worker.invocations += 1  # the warm-up paid for lazy imports: not the function's own CPU cost
        except (TimeoutError, WorkerDied, ValueError, OSError) as exc:
            log.warning("%s: a warm worker did not start: %s", self.spec.name, exc)
            worker.stop(kill=True)
            return None
        worker.last_used = time.monotonic()
        return worker

    def reap(self, idle_ttl: float) -> int:
        now = time.monotonic()
        with self._cond:
            # The least recently used go first; the warm workers are never reaped.
            spare = max(0, len(self._idle) + self._busy + self._starting - self.spec.warm_workers)
            expired = [w for w in self._idle if not w.alive()]
            expired += sorted((w for w in self._idle if w not in expired and now - w.last_used > idle_ttl),
                              key=lambda w: w.last_used)[:max(0, spare - len(expired))]
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
                 idle_ttl: float = DEFAULT_IDLE_TTL_SECONDS, queue_wait: float = 30.0,
                 cpu_slots: int | None = None) -> None:
        # Two slots per core: a CPU-bound invocation also waits (database, a nested invoke) while it holds its slot.
        cores = os.cpu_count() or 1
        self.cpu_slots = CpuSlots(cpu_slots or CPU_SLOTS_PER_CORE * cores)
        self.init_slots = CpuSlots(cores)  # worker start-ups, apart: a start never waits for a hash
        self.pools = {spec.key: FunctionPool(spec, python, log_dir, queue_wait, self.cpu_slots, self.init_slots)
                      for spec in specs}
        self.idle_ttl = idle_ttl
        self._stopping = threading.Event()
        self._reaper = threading.Thread(target=self._reap_loop, name="localcloud-reaper", daemon=True)
        self._warming: threading.Thread | None = None

    def start(self) -> None:
        self._reaper.start()
        warm = [pool for pool in self.pools.values() if pool.spec.warm_workers]
        if warm:  # off the start's path: a request that comes first starts a worker of its own
            self._warming = threading.Thread(target=lambda: [pool.prestart() for pool in warm],
                                             name="localcloud-warm-pool", daemon=True)
            self._warming.start()

    def wait_warm(self, timeout: float) -> bool:
        """Wait until the warm pools are up (their warm-up calls done); False when ``timeout`` passed first."""
        if self._warming is not None:
            self._warming.join(timeout)
            return not self._warming.is_alive()
        return True

    def invoke(self, key: str, event: Any = None, *, event_json: bytes | None = None,
               request_id: str | None = None, deadline: float | None = None) -> InvokeResult:
        if event_json is None:
            event_json = json.dumps(event, separators=(",", ":")).encode()
        return self.pools[key].invoke(event_json, request_id, deadline)

    def _reap_loop(self) -> None:
        interval = max(0.2, min(5.0, self.idle_ttl / 4))
        while not self._stopping.wait(interval):
            for pool in self.pools.values():
                reaped = pool.reap(self.idle_ttl)
                if reaped:
                    log.debug("%s: stopped %d idle worker(s)", pool.spec.name, reaped)

    def stats(self) -> dict[str, dict[str, Any]]:
        return {pool.spec.name: pool.snapshot() for pool in self.pools.values()}

    def cpu_slot_stats(self) -> dict[str, int]:
        return {"size": self.cpu_slots.size, "waiting": self.cpu_slots.waiting,
                "starting_waiting": self.init_slots.waiting}

    def stop(self) -> None:
        self._stopping.set()
        if self._reaper.is_alive():
            self._reaper.join(5)
        for pool in self.pools.values():
            pool.stop()
