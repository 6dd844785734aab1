"""Warm latency: through the local API Gateway (HTTP, keep-alive) and of the handler alone (in-process)."""

from __future__ import annotations

import importlib
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class Latency:
    name: str
    n: int
    p50_ms: float
    p95_ms: float

    @classmethod
    def of(cls, name: str, samples: list[float]) -> Latency:
        ordered = sorted(samples)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        return cls(name, len(samples), statistics.median(ordered), p95)


def time_calls(call: Callable[[], Any], n: int, warmup: int = 5) -> list[float]:
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def handler_call(module: str, event_factory: Callable[[], dict[str, Any]], expect: int) -> Callable[[], Any]:
    handler = importlib.import_module(module).handler

    def call() -> Any:
        result = handler(event_factory(), None)
        assert result["statusCode"] == expect, result
        return result

    return call
