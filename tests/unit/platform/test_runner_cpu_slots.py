"""The local runner's CPU slots (first come, first served, bounded by a deadline), its CPU readings, how it
classifies a function as CPU-bound and which idle workers it keeps."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from localcloud import workers
from localcloud.workers import CpuSlots, FunctionPool, FunctionSpec, cpu_seconds


def test_a_slot_is_refused_when_the_deadline_passes_and_granted_once_released() -> None:
    slots = CpuSlots(1)
    assert slots.acquire(time.monotonic() + 1)
    started = time.monotonic()
    assert not slots.acquire(time.monotonic() + 0.2)
    assert time.monotonic() - started >= 0.15
    assert slots.waiting == 0  # the refused caller left the queue
    slots.release()
    assert slots.acquire(time.monotonic() + 1)


def test_waiters_get_slots_in_arrival_order() -> None:
    slots = CpuSlots(1)
    assert slots.acquire(time.monotonic() + 1)
    order: list[int] = []

    def take(index: int) -> None:
        assert slots.acquire(time.monotonic() + 10)
        order.append(index)
        slots.release()

    threads = []
    for index in range(4):
        thread = threading.Thread(target=take, args=(index,))
        thread.start()
        threads.append(thread)
        deadline = time.monotonic() + 5
        while slots.waiting < index + 1:  # queued before the next one arrives
            assert time.monotonic() < deadline
            time.sleep(0.005)
    slots.release()
    for thread in threads:
        thread.join(5)
    assert order == [0, 1, 2, 3]


def test_no_more_holders_than_slots() -> None:
    slots = CpuSlots(2)
    holding, most = 0, 0
    lock = threading.Lock()

    def hold() -> None:
        nonlocal holding, most
        assert slots.acquire(time.monotonic() + 10)
        with lock:
            holding += 1
            most = max(most, holding)
        time.sleep(0.02)
        with lock:
            holding -= 1
        slots.release()

    threads = [threading.Thread(target=hold) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert most == 2


def test_cpu_seconds_counts_the_process_cpu() -> None:
    before = cpu_seconds(os.getpid())
    assert before is not None
    until = time.process_time() + 0.2
    while time.process_time() < until:
        pass
    after = cpu_seconds(os.getpid())
    assert after is not None and after - before >= 0.1
    assert cpu_seconds(2**22 + 12345) is None  # no such process


# ----------------------------------------------------------------------------- CPU classification, warm workers


class _FakeWorker:
    """What a pool reads of a worker when it classifies a function or reaps idle workers."""

    def __init__(self, pid: int, *, idle_for: float = 0.0, invocations: int = 1) -> None:
        self.pid = pid
        self.invocations = invocations
        self.last_used = time.monotonic() - idle_for
        self.niced = False
        self.stopped = False

    def lower_priority(self) -> None:
        self.niced = True

    def alive(self) -> bool:
        return not self.stopped

    def stop(self, *, kill: bool = False) -> None:
        self.stopped = True


def _pool(tmp_path: Path, **spec: Any) -> FunctionPool:
    return FunctionPool(FunctionSpec(key="fn", name="fn", function_name="fn", arn="arn:fn", handler="h.handler",
                                     code_dir=tmp_path, layer_dirs=[], environment={}, **spec),
                        python="python", log_dir=None, queue_wait=1.0)


def _measure(pool: FunctionPool, worker: _FakeWorker, cpu_ms: float, monkeypatch: pytest.MonkeyPatch) -> None:
    readings = iter([0.0, cpu_ms / 1000])
    monkeypatch.setattr(workers, "cpu_seconds", lambda pid: next(readings))
    before = workers.cpu_seconds(worker.pid)
    pool._measured(worker, before)  # type: ignore[arg-type]


def test_one_costly_invocation_does_not_make_a_light_function_cpu_bound(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pool, worker = _pool(tmp_path), _FakeWorker(1)
    for cpu_ms in (400.0, 3.0, 2.0, 4.0):  # say, the worker's first database connection, then warm reads
        _measure(pool, worker, cpu_ms, monkeypatch)
        assert not pool.stats.heavy
    assert not worker.niced
    assert pool.stats.cpu_ms == 3.5  # the median of (400, 3, 2, 4)


def test_a_function_is_cpu_bound_once_enough_invocations_cost_a_hash(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pool, worker = _pool(tmp_path), _FakeWorker(1)
    for _ in range(workers.CPU_MIN_SAMPLES - 1):
        _measure(pool, worker, 180.0, monkeypatch)
        assert not pool.stats.heavy
    _measure(pool, worker, 180.0, monkeypatch)
    assert pool.stats.heavy and worker.niced


def test_the_reaper_keeps_a_functions_warm_workers(tmp_path: Path) -> None:
    pool = _pool(tmp_path, warm_workers=2)
    stale = [_FakeWorker(pid, idle_for=60 + pid) for pid in range(1, 5)]
    pool._idle = list(stale)  # type: ignore[arg-type]
    assert pool.reap(idle_ttl=10) == 2
    assert [w.stopped for w in stale] == [False, False, True, True]  # the least recently used went
    assert pool.reap(idle_ttl=10) == 0


def test_the_machine_wide_runnable_count_is_read() -> None:
    running = workers.runnable_tasks()
    assert running is not None and running >= 1  # this test itself is running


@pytest.mark.parametrize(("tasks_over", "saturated"), [(-1, False), (0, False), (1, True)])
def test_the_cpu_is_saturated_above_the_runnable_tasks_per_core(
        tasks_over: int, saturated: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    # The machine-wide count changes between two reads on a shared machine, so the threshold is checked on a set one.
    threshold = workers.CPU_SATURATED_PER_CORE * (os.cpu_count() or 1)
    monkeypatch.setattr(workers, "runnable_tasks", lambda: threshold + tasks_over)
    assert workers.cpu_saturated() is saturated
    monkeypatch.setattr(workers, "runnable_tasks", lambda: None)
    assert workers.cpu_saturated() is False


def test_a_worker_computes_while_a_thread_runs_and_not_while_it_sleeps() -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)  # both are past their start
        assert not workers.computing_now(sleeper)  # type: ignore[arg-type]
        assert workers.computing_now(spinner)  # type: ignore[arg-type]  # running, or runnable on a busy machine
    finally:
        for proc in (sleeper, spinner):
            proc.kill()
            proc.wait()
    assert not workers.computing_now(spinner)  # type: ignore[arg-type]  # gone
