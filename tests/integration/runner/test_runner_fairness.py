"""Fairness on shared cores: CPU-bound functions queue for CPU slots; nobody waits past the gateway's deadline;
the authorizer keeps warm workers."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from localcloud.runner import AUTHORIZER_WARM_WORKERS, LocalCloudRunner
from localcloud.workers import CpuSlots

from tests.integration.runner.conftest import IDLE_TTL_SECONDS
from tests.runner_app.testing import read_jsonl, wait_until

pytestmark = pytest.mark.integration

BURST = 8  # CPU-bound requests at once: twice the function's 4 executions
SPIN = "/v1/spin?ms=250&threads=2"


def _most_at_once(spans: list[dict[str, float]]) -> int:
    edges = sorted([(s["started"], 1) for s in spans] + [(s["ended"], -1) for s in spans])
    running = most = 0
    for _, step in edges:
        running += step
        most = max(most, running)
    return most


@pytest.fixture
def one_cpu_slot(runner: LocalCloudRunner) -> Iterator[CpuSlots]:
    """The spin function's pool sees a machine with one CPU slot (whatever this machine has)."""
    assert runner.functions is not None
    pool = runner.functions.pools[runner.function_key("test-spin")]
    saved, pool.cpu_slots = pool.cpu_slots, CpuSlots(1)
    try:
        yield pool.cpu_slots
    finally:
        pool.cpu_slots = saved


@pytest.fixture
def short_integration_timeout(runner: LocalCloudRunner) -> Iterator[float]:
    gateway = runner.servers["lms"].gateway
    # Well short of the 1.8 s sleeps below, so a loaded machine's pauses cannot blur the deadline with the end.
    saved, gateway.integration_timeout = gateway.integration_timeout, 0.5
    try:
        yield gateway.integration_timeout
    finally:
        gateway.integration_timeout = saved


def test_cpu_bound_burst_queues_for_cpu_slots_and_light_functions_stay_responsive(
        lms: httpx.Client, runner: LocalCloudRunner, runner_out: Path, one_cpu_slot: CpuSlots) -> None:
    # Measured, not declared: a few invocations (a worker's first one is not counted) make it CPU-bound.
    wait_until(lambda: lms.get("/v1/spin?ms=120").status_code == 200
               and runner.stats()["functions"]["test-spin"]["heavy"], 30, interval=0, what="spin to be CPU-bound")
    assert not runner.stats()["functions"]["test-echo"]["heavy"]
    before = len(read_jsonl(runner_out, "spin"))

    url = runner.urls["lms"]
    with ThreadPoolExecutor(BURST) as pool:
        burst = [pool.submit(httpx.get, url + SPIN, timeout=60) for _ in range(BURST)]
        time.sleep(0.3)  # the burst is running and queued
        light: list[float] = []
        while not all(f.done() for f in burst):
            for path, headers in (("/v1/echo", {}), ("/v1/private", {"Authorization": f"Bearer allow-{uuid.uuid4()}"})):
                started = time.monotonic()
                response = lms.get(path, headers=headers)  # a new token each time: the authorizer runs every time
                light.append(time.monotonic() - started)
                assert response.status_code == 200, response.text
    assert all(f.result().status_code == 200 for f in burst)
    spans = read_jsonl(runner_out, "spin")[before:]
    assert len(spans) == BURST
    # One CPU-bound invocation at a time (one slot), the others waited for it.
    assert _most_at_once(spans) == 1
    assert runner.stats()["functions"]["test-spin"]["cpu_wait_ms_p95"] > 0
    # The authorizer and the echo function never waited behind the burst (generous bound: a noisy machine).
    assert len(light) >= 4 and max(light) < 1.5, light


def test_a_request_queued_past_the_integration_timeout_gets_504(
        lms: httpx.Client, runner: LocalCloudRunner, short_integration_timeout: float) -> None:
    expired_before = runner.stats()["functions"]["test-sleepy"]["expired"]
    assert runner.functions is not None
    spec = runner.functions.pools[runner.function_key("test-sleepy")].spec
    saved, spec.max_concurrency = spec.max_concurrency, 1
    try:
        with ThreadPoolExecutor(1) as pool:
            # The function's one execution busy for 1.8 s (a direct invocation: no gateway deadline).
            holder = pool.submit(runner.invoke_result, "test-sleepy", {"queryStringParameters": {"seconds": "1.8"}})
            wait_until(lambda: runner.stats()["functions"]["test-sleepy"]["workers"]["busy"] == 1, 10,
                       what="the execution to be busy")
            started = time.monotonic()
            response = lms.get("/v1/sleep")
            elapsed = time.monotonic() - started
            assert holder.result().ok
    finally:
        spec.max_concurrency = saved
    assert response.status_code == 504 and response.json() == {"message": "Endpoint request timed out"}
    assert short_integration_timeout * 0.9 <= elapsed < 1.7, elapsed  # at the deadline, not when a worker freed
    assert runner.stats()["functions"]["test-sleepy"]["expired"] == expired_before + 1


def test_a_function_still_running_at_the_integration_timeout_gets_504(
        lms: httpx.Client, runner: LocalCloudRunner, short_integration_timeout: float) -> None:
    lms.get("/v1/sleep")  # a warm worker
    started = time.monotonic()
    response = lms.get("/v1/sleep?seconds=1.8")  # within the function's 2 s, past the gateway's 0.5 s
    elapsed = time.monotonic() - started
    assert response.status_code == 504 and response.json() == {"message": "Endpoint request timed out"}
    assert elapsed < 1.7, elapsed
    # A fresh worker serves the next invocation (a direct one: its cold start need not fit in the gateway's 0.5 s).
    assert runner.invoke_result("test-sleepy", {}).ok


def test_the_authorizer_has_warm_workers_that_the_reaper_keeps(
        runner: LocalCloudRunner, lms: httpx.Client, runner_out: Path) -> None:
    assert runner.functions is not None
    pool = runner.functions.pools[runner.function_key("test-authorizer")]
    assert pool.spec.warm_workers == AUTHORIZER_WARM_WORKERS
    warm = wait_until(lambda: set(pool.pids()) if len(pool.pids()) >= AUTHORIZER_WARM_WORKERS else None, 60,
                      what="the authorizer's warm workers")
    # Each was warmed up by one (denied) call, so the handler's first-use imports happened off any request's path.
    warm_ups = [e for e in read_jsonl(runner_out, "authorizer_events")
                if e.get("requestContext", {}).get("requestId") == "warm-up"]
    assert len(warm_ups) >= AUTHORIZER_WARM_WORKERS
    time.sleep(IDLE_TTL_SECONDS * 3)  # idle well past the TTL: any other function's idle worker is reaped by now
    assert warm is not None and warm <= set(pool.pids())
    cold_starts = runner.stats()["functions"]["test-authorizer"]["cold_starts"]
    assert lms.get("/v1/private", headers={"Authorization": f"Bearer allow-{uuid.uuid4()}"}).status_code == 200
    assert runner.stats()["functions"]["test-authorizer"]["cold_starts"] == cold_starts
