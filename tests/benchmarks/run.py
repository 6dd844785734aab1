"""``make bench``: cold start per function, warm latency through the gateway and of handlers alone.

Starts its own local cloud on free ports (nothing shared with ``make run``),
measures, and rewrites docs/benchmarks.md. Medians and ratios: the machine is
shared and noisy.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from localcloud.cloud import LocalCloud, LocalCloudConfig
from localcloud.services import free_port

from tests.benchmarks.cold_start import ColdStart, measure
from tests.benchmarks.latency import Latency, time_calls

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "benchmarks.md"
PASSWORD = "Bench-pass-123"
COLD_START_GOAL_MS = 300
GATEWAY_OVERHEAD_GOAL_MS = 2.0


def _warm(cloud: LocalCloud, n: int) -> tuple[list[Latency], list[Latency], float]:
    base = cloud.api_urls["lms"]
    with httpx.Client(base_url=base, timeout=30) as http:
        email = f"bench-{int(time.time())}@bench.smartcourse.local"
        created = http.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
        assert created.status_code == 201, created.text
        user_id = created.json()["id"]

        def login() -> None:
            response = http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
            assert response.status_code == 200, response.text

        token = http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}

        def me() -> None:
            assert http.get("/api/v1/auth/me", headers=auth).status_code == 200

        def health() -> None:
            assert http.get("/health").status_code == 200

        gateway = [
            Latency.of("POST /auth/login", time_calls(login, max(20, n // 5))),
            Latency.of("GET /auth/me", time_calls(me, n)),
            Latency.of("GET /health", time_calls(health, n)),
        ]

    # Handler alone, in a fresh interpreter with the login function's resolved environment (like a worker).
    environment = cloud.runner.function_environment("lms-auth-login")
    environment["PYTHONPATH"] = os.pathsep.join(
        str(ROOT / p) for p in (".", "functions", "layers/shared/python", "events", "localstack"))
    out = subprocess.run([sys.executable, "-m", "tests.benchmarks.handler_only", email, PASSWORD, user_id, str(n)],
                         env=environment, cwd=ROOT, capture_output=True, text=True, check=True)
    handler_only = [Latency.of(name, samples) for name, samples in json.loads(out.stdout.splitlines()[-1]).items()]
    overhead = gateway[2].p50_ms - handler_only[2].p50_ms
    return gateway, handler_only, overhead


def _render(cold: list[ColdStart], gateway: list[Latency], handler_only: list[Latency], overhead: float,
            runs: int) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Benchmarks",
        "",
        f"Measured {now} by `make bench` on this machine ({os.cpu_count()} cores, Python "
        f"{platform.python_version()}, shared and noisy: medians and ratios, not absolutes).",
        "",
        "## Cold start per function",
        "",
        f"Median of {runs} rounds; before each round every worker is reaped, then one request on each "
        "endpoint's main path goes through the gateway. *Init* is what the worker reports like Lambda's "
        "Init Duration (import + module init, interpreter start excluded); *first invoke* is the first "
        "invocation's duration (lazy imports and first connections land here); *cold request* is the "
        f"client's wall time for the whole cold request. Goal: init ≤ {COLD_START_GOAL_MS} ms.",
        "",
        "| Function | init ms | first invoke ms | init + first invoke ms | cold request ms | init ≤ goal |",
        "|---|---:|---:|---:|---:|:---:|",
    ]
    lines += [f"| {c.function} | {c.init_ms:.0f} | {c.first_invoke_ms:.0f} | {c.init_ms + c.first_invoke_ms:.0f} | "
              f"{c.cold_request_ms:.0f} | {'yes' if c.init_ms <= COLD_START_GOAL_MS else 'no'} |"
              for c in sorted(cold, key=lambda c: c.function)]
    lines += [
        "",
        "Read with care: the authorizer and the docs function import their heavy modules on first use, so "
        "their *init* is tiny and their *first invoke* carries the cost; endpoint functions import the "
        "service layer at init. Judged by init + first invoke (what a caller waits for, less the "
        "interpreter start), no endpoint function meets 300 ms on this machine: SQLAlchemy Core, "
        "Powertools' validating resolver and pydantic models cost ~300 ms of imports here. In AWS, "
        "Lambda SnapStart for Python (3.12+) restores a snapshot taken after init, which is why imports "
        "are kept in init rather than deferred.",
    ]
    lines += [
        "",
        "## Warm latency",
        "",
        "Through the local API Gateway: HTTP/1.1 keep-alive client → runner (route match, authorizer "
        "with its cache, REST proxy event) → warm worker process → response. Handler only: the same handler "
        "called in-process with an equivalent event.",
        "",
        "| Path | n | p50 ms | p95 ms |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| gateway: {r.name} | {r.n} | {r.p50_ms:.2f} | {r.p95_ms:.2f} |" for r in gateway]
    lines += [f"| {r.name} | {r.n} | {r.p50_ms:.2f} | {r.p95_ms:.2f} |" for r in handler_only]
    lines += [
        "",
        f"Gateway overhead (p50 of `GET /health` through the gateway minus its handler alone): "
        f"**{overhead:.2f} ms** (goal ≤ {GATEWAY_OVERHEAD_GOAL_MS} ms: "
        f"{'met' if overhead <= GATEWAY_OVERHEAD_GOAL_MS else 'not met'}).",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    runs = int(os.environ.get("BENCH_COLD_RUNS", "5"))
    n = int(os.environ.get("BENCH_N", "200"))
    os.environ.setdefault("SMARTCOURSE_ADMIN_EMAIL", "admin@bench.smartcourse.local")
    os.environ.setdefault("SMARTCOURSE_ADMIN_PASSWORD", "Bench-admin-pass-1")
    with tempfile.TemporaryDirectory(prefix="smartcourse-bench-") as state:
        ports = {"postgres": free_port(), "kafka": free_port(), "aws": free_port(),
                 "lms": free_port(), "ai": free_port(), "analytics": free_port()}
        config = LocalCloudConfig(state_dir=Path(state), ports=ports, cdk_out=ROOT / ".build" / "cdk.out.bench",
                                  next_free_port=False)
        cloud = LocalCloud(config)
        cloud.start()
        try:
            print("cold starts…", flush=True)
            admin = (os.environ["SMARTCOURSE_ADMIN_EMAIL"], os.environ["SMARTCOURSE_ADMIN_PASSWORD"])
            with httpx.Client(base_url=cloud.api_urls["lms"]) as http:
                student = http.post("/api/v1/auth/register", json={
                    "email": f"cold-target-{int(time.time())}@bench.smartcourse.local", "password": PASSWORD})
            cold = measure(cloud, admin, student.json()["id"], runs)
            print("warm latency…", flush=True)
            gateway, handler_only, overhead = _warm(cloud, n)
        finally:
            cloud.stop()
    OUT.write_text(_render(cold, gateway, handler_only, overhead, runs))
    print(OUT.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
