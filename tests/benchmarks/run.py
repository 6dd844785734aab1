"""``make bench``: cold start per function, warm latency through the gateway and of handlers alone, the event
path, the AI service (retrieval evaluation: tests/benchmarks/ai_eval.py; performance: ai_perf.py) and the
Analytics service (tests/benchmarks/analytics_perf.py: ingest, reads, a report, a replay of the archive).

Starts its own local cloud on free ports (nothing shared with ``make run``),
measures, and rewrites docs/benchmarks.md. Medians and ratios: the machine is
shared and noisy.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from localcloud.cloud import LocalCloud, LocalCloudConfig
from localcloud.services import free_port

from tests.benchmarks import (
    ai_eval,
    ai_perf,
    analytics_perf,
    burst,
    event_latency,
    init_time,
    lms_workload,
    outbox,
)
from tests.benchmarks.cold_start import ColdStart, LmsTargets, measure
from tests.benchmarks.latency import Latency, time_calls
from tests.benchmarks.lms_data import COURSES, BenchCourse, insert_courses
from tests.support.paths import pythonpath

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "benchmarks.md"
PASSWORD = "Bench-pass-123"
COLD_START_GOAL_MS = 300
GATEWAY_OVERHEAD_GOAL_MS = 2.0
READ_GOAL_MS = 15.0  # handler-only p50
WRITE_GOAL_MS = 30.0
# Functions whose resolved environments the handler-only interpreter merges (login's, plus the LMS domain's).
HANDLER_ONLY_FUNCTIONS = ("lms-auth-login", "lms-courses-list", "lms-courses-get", "lms-enrollments-create",
                          "lms-progress-record")


def _gateway_send(http: httpx.Client, auth: dict[str, str]) -> lms_workload.Send:
    from stacks.services import function

    def send(name: str, path_params: dict[str, str], body: Any, query: dict[str, str] | None) -> tuple[int, Any]:
        route = function(name).route
        path = re.sub(r"\{(\w+)\}", lambda m: path_params[m.group(1)], route.path)
        response = http.request(route.method, path, json=body, params=query, headers=auth)
        return response.status_code, response.json() if response.content else None

    return send


def _warm(cloud: LocalCloud, n: int, courses: list[BenchCourse], n_writes: int,
          ) -> tuple[list[Latency], list[Latency], float, dict[str, Latency], dict[str, Latency]]:
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
        # The LMS domain: the gateway run and the handler-only run each enroll in their own slice of courses.
        size = lms_workload.slice_size(n_writes)
        lms_gateway = {name: Latency.of(name, samples) for name, samples in
                       lms_workload.run(_gateway_send(http, auth), courses[:size], n, n_writes).items()}

    # Handler alone, in a fresh interpreter with the login function's resolved environment (like a worker).
    environment: dict[str, str] = {}
    for name in HANDLER_ONLY_FUNCTIONS:
        environment.update(cloud.runner.function_environment(name))
    environment["PYTHONPATH"] = pythonpath()
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="bench-lms-") as spec:
        json.dump({"courses": [vars(c) for c in courses[size:2 * size]], "n_writes": n_writes}, spec)
        spec.flush()
        out = subprocess.run([sys.executable, "-m", "tests.benchmarks.handler_only", email, PASSWORD, user_id,
                              str(n), spec.name], env=environment, cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"handler-only run failed:\n{out.stderr[-4000:]}")
    results = json.loads(out.stdout.splitlines()[-1])
    lms_names = {f"{name} handler" for name in lms_workload.READS + lms_workload.WRITES}
    handler_only = [Latency.of(name, samples) for name, samples in results.items() if name not in lms_names]
    lms_handler = {name.removesuffix(" handler"): Latency.of(name, samples)
                   for name, samples in results.items() if name in lms_names}
    overhead = gateway[2].p50_ms - handler_only[2].p50_ms
    return gateway, handler_only, overhead, lms_gateway, lms_handler


def _lms_targets(cloud: LocalCloud, admin: tuple[str, str], student_id: str,
                 courses: list[BenchCourse]) -> LmsTargets:
    """The cold requests' ids: the student's enrollment in the last course, a fresh course to enroll in."""
    target, fresh = courses[-1], courses[-2]
    with httpx.Client(base_url=cloud.api_urls["lms"], timeout=60) as http:
        token = http.post("/api/v1/auth/login", json={"email": admin[0], "password": admin[1]}).json()["access_token"]
        enrolled = http.post("/api/v1/enrollments", json={"course_id": target.course_id, "user_id": student_id},
                             headers={"Authorization": f"Bearer {token}"})
        assert enrolled.status_code == 201, enrolled.text
    return LmsTargets(target.course_id, target.module_id, target.asset_id, enrolled.json()["id"], fresh.course_id)


def _render_lms(lms_gateway: dict[str, Latency], lms_handler: dict[str, Latency]) -> list[str]:
    lines = [
        "",
        f"## LMS domain ({COURSES:,} published courses)",
        "",
        f"{COURSES:,} published courses (one module and one ready video asset each, varied titles, categories "
        "and levels, owned by a seeded instructor) are inserted with one SQL statement before the cold starts. "
        "A logged-in student: *list courses* is `GET /courses?limit=20` (newest first, with the total); *get "
        "course* cycles over the courses; every *create enrollment* is a new enrollment (201) in a course not "
        "enrolled yet; *record progress* cycles over 50 of those active enrollments, creating the asset's "
        "progress row on the first round and raising its percent afterwards (a real write each call, never "
        "completing a course). The gateway and handler-only runs use disjoint courses. Goals on the "
        f"handler-only p50: ≤ {READ_GOAL_MS:.0f} ms for reads, ≤ {WRITE_GOAL_MS:.0f} ms for writes.",
        "",
        "| Operation | kind | n | gateway p50 ms | gateway p95 ms | handler p50 ms | handler p95 ms | goal "
        "(handler p50) | met |",
        "|---|---|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for name in lms_workload.READS + lms_workload.WRITES:
        g, h = lms_gateway[name], lms_handler[name]
        read = name in lms_workload.READS
        goal = READ_GOAL_MS if read else WRITE_GOAL_MS
        met = "met" if h.p50_ms <= goal else "not met"
        lines.append(f"| {name} | {'read' if read else 'write'} | {h.n} | {g.p50_ms:.2f} | {g.p95_ms:.2f} | "
                     f"{h.p50_ms:.2f} | {h.p95_ms:.2f} | ≤ {goal:.0f} ms | {met} |")
    lines += [
        "",
        "Read with care: the two reads are routes open to anyone, so they sit behind the *optional* authorizer, "
        "which has no identity source and therefore no result cache: with a token, every such request invokes "
        "the authorizer (JWT check) before the function, which is most of the gap between the gateway and "
        "handler-only columns for reads; the writes go through the cached authorizer. The gateway columns also "
        "include the HTTP hop, the proxy event and the worker round trip. The writes include their commit's "
        "outbox nudge (an asynchronous Lambda invoke of the publisher: here an HTTP round trip to the runner's "
        "Lambda API, a few ms; in AWS an async invoke), which keeps commit → topic within seconds.",
    ]
    return lines


def _render(init_section: str, cold: list[ColdStart], gateway: list[Latency], handler_only: list[Latency],
            overhead: float, runs: int, lms_gateway: dict[str, Latency], lms_handler: dict[str, Latency]) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Benchmarks",
        "",
        f"Measured {now} by `make bench` on this machine ({os.cpu_count()} cores, Python "
        f"{platform.python_version()}, shared and noisy: medians and ratios, not absolutes).",
        "",
        init_section.strip("\n"),
        "",
        COLD_REQUESTS_HEADING,
        "",
        f"Median of {runs} rounds; before each round every worker is reaped, then one request on each "
        "endpoint's main path goes through the gateway. *Init* is what the worker reports like Lambda's "
        "Init Duration (import + module init, interpreter start excluded); *first invoke* is the first "
        "invocation's duration (the deferred imports and first connections land here); *cold request* is the "
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
        "Read with care: every function defers its service layer (SQLAlchemy, repositories, the outbox-nudge "
        "Lambda client) to its first request, so without SnapStart the *first invoke* carries what *init* no "
        "longer does; init + first invoke is what a caller waits for, less the interpreter start. In staging and "
        "prod, SnapStart restores a snapshot whose before-snapshot hook primed those imports and the nudge client "
        "(`smartcourse.snapstart`), so there the first invoke starts with them loaded.",
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
    ]
    lines += _render_lms(lms_gateway, lms_handler)
    lines.append("")
    return "\n".join(lines)


def _outbox_drain(cloud: LocalCloud) -> outbox.DrainResult:
    """On the cloud's server and broker, in a database of its own: the cloud's scheduled publisher drains only the
    LMS database, so it cannot take rows from the measured drain."""
    from smartcourse.db.migrate import upgrade

    url = cloud.postgres.database_url("outbox_bench")
    upgrade(url)
    return outbox.measure_drain(url, cloud.kafka.bootstrap, cloud.kafka.create_topics,
                                rows=int(os.environ.get("BENCH_OUTBOX_ROWS", str(outbox.ROWS))),
                                runs=int(os.environ.get("BENCH_OUTBOX_RUNS", str(outbox.RUNS))))


EVENTS_HEADING = "## Event backbone"
COLD_REQUESTS_HEADING = "## Cold requests through the gateway"
LATENCY_GOAL_P95_MS = 2000.0


def _render_latency(result: event_latency.LatencyResult) -> list[str]:
    met = "met" if result.p95_ms <= LATENCY_GOAL_P95_MS else "not met"
    return [
        "",
        "### Commit → consumer latency",
        "",
        f"{result.writes:,} unit-of-work commits at a steady {result.rate_per_s:g} writes/s (achieved "
        f"{result.achieved_rate_per_s:g}/s), each writing one outbox row exactly as a request handler does (nudge "
        "included); measured from the writer's clock after commit to the consumer's `processed_events` row: nudged "
        "publisher function in the runner → broker → Kafka event source mapping → `lms-consume-course-processing`.",
        "",
        "| writes | delivered | p50 ms | p95 ms | p99 ms | max ms | goal p95 | met |",
        "|---:|---:|---:|---:|---:|---:|---:|:---:|",
        f"| {result.writes:,} | {result.delivered:,} | {result.p50_ms:,.0f} | {result.p95_ms:,.0f} | "
        f"{result.p99_ms:,.0f} | {result.max_ms:,.0f} | ≤ {LATENCY_GOAL_P95_MS:,.0f} | {met} |",
    ]


def _events_section(drain: outbox.DrainResult, latency: event_latency.LatencyResult) -> str:
    lines = ["", EVENTS_HEADING, "", "The event path: outbox publisher throughput and end-to-end latency.",
             *outbox.render(drain), *_render_latency(latency)]
    return "\n".join(lines) + "\n"


def _splice(document: str, heading: str, section: str) -> str:
    """Replace (or append) the section under ``heading`` (up to the next ``## `` heading), leaving the rest of the
    report as it was measured."""
    start = document.find(f"\n{heading}\n")
    if start < 0:
        return document.rstrip("\n") + "\n" + section
    end = document.find("\n## ", start + 1)
    return document[:start] + section + (document[end:] if end >= 0 else "")


def _splice_events(document: str, section: str) -> str:
    return _splice(document, EVENTS_HEADING, section)


# BENCH_ONLY=ai runs both AI sections, ai-eval (or ai-perf) one of them: no local cloud, each starts its own database.
AI_ONLY = {"ai": ("eval", "perf"), "ai-eval": ("eval",), "ai-perf": ("perf",)}


def _progress(line: str) -> None:
    """The AI and Analytics benchmarks' progress lines (their sections are printed with the whole report)."""
    if line.startswith(("ai-", "analytics-")):
        print(line, flush=True)


def _ai_sections(parts: tuple[str, ...]) -> list[tuple[str, str]]:
    """(heading, markdown) of the AI retrieval evaluation and the AI service's performance, as asked."""
    sections = []
    if "eval" in parts:
        print("AI retrieval evaluation…", flush=True)
        sections.append((ai_eval.SECTION_HEADING, ai_eval.run(log=_progress)))
    if "perf" in parts:
        print("AI service performance…", flush=True)
        sections.append((ai_perf.SECTION_HEADING, ai_perf.run(log=_progress)))
    return sections


def _splice_ai(document: str, sections: list[tuple[str, str]]) -> str:
    for heading, section in sections:
        document = _splice(document, heading, section)
    return document


def _analytics_section() -> tuple[str, str]:
    """(heading, markdown) of the Analytics service's performance (its own database and AWS emulator)."""
    print("Analytics service performance…", flush=True)
    return analytics_perf.SECTION_HEADING, analytics_perf.run(log=_progress)


def _events(cloud: LocalCloud) -> tuple[outbox.DrainResult, event_latency.LatencyResult]:
    print("outbox drain…", flush=True)
    drain = _outbox_drain(cloud)
    print("commit → consumer latency…", flush=True)
    latency = event_latency.measure(cloud, rate_per_s=float(os.environ.get("BENCH_EVENT_RATE", "50")),
                                    seconds=float(os.environ.get("BENCH_EVENT_SECONDS", "30")))
    return drain, latency


def _burst_section() -> str:
    """100 virtual users against a local cloud of its own (demo data seeded): the Burst section."""
    os.environ.setdefault("SMARTCOURSE_ADMIN_EMAIL", "admin@bench.smartcourse.local")
    os.environ.setdefault("SMARTCOURSE_ADMIN_PASSWORD", "Bench-admin-pass-1")
    with tempfile.TemporaryDirectory(prefix="smartcourse-burst-") as state:
        ports = {"postgres": free_port(), "kafka": free_port(), "aws": free_port(),
                 "lms": free_port(), "ai": free_port(), "analytics": free_port()}
        cloud = LocalCloud(LocalCloudConfig(state_dir=Path(state), ports=ports,
                                            cdk_out=ROOT / ".build" / "cdk.out.burst", next_free_port=False))
        cloud.start()
        try:
            print(f"burst: {burst.VUS} virtual users for {burst.SECONDS:g} s…", flush=True)
            return burst.run(cloud)
        finally:
            cloud.stop()


def _burst_only() -> int:
    """BENCH_ONLY=burst: rewrites only the Burst section."""
    section = _burst_section()
    OUT.write_text(_splice(OUT.read_text() if OUT.exists() else "# Benchmarks\n", burst.SECTION_HEADING, section))
    print(section)
    return 0


def main() -> int:
    runs = int(os.environ.get("BENCH_COLD_RUNS", "5"))
    n = int(os.environ.get("BENCH_N", "200"))
    # BENCH_ONLY=events measures the event path only and rewrites just its section of the report; BENCH_ONLY=ai
    # (ai-eval, ai-perf) likewise for the AI sections, BENCH_ONLY=analytics for the Analytics section.
    only = os.environ.get("BENCH_ONLY", "")
    if only == "cold":  # the init of every API function and the FastAPI peer (no local cloud)
        document = OUT.read_text() if OUT.exists() else "# Benchmarks\n"
        OUT.write_text(_splice(document, init_time.SECTION_HEADING, init_time.run(runs)))
        print(OUT.read_text())
        return 0
    if only in AI_ONLY or only == "analytics":
        document = OUT.read_text() if OUT.exists() else "# Benchmarks\n"
        sections = [_analytics_section()] if only == "analytics" else _ai_sections(AI_ONLY[only])
        OUT.write_text(_splice_ai(document, sections))
        print(OUT.read_text())
        return 0
    if only == "burst":
        return _burst_only()
    events_only = only == "events"
    # Every timed enrollment needs a course of its own: two disjoint slices (gateway, handler) of the courses.
    n_writes = min(int(os.environ.get("BENCH_N_WRITES", str(n))), (COURSES - 2) // 2 - lms_workload.WARMUP)
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
            if events_only:
                drain, latency = _events(cloud)
            else:
                print(f"inserting {COURSES} published courses…", flush=True)
                courses = insert_courses(cloud.database_urls["lms"])
                print("cold starts…", flush=True)
                admin = (os.environ["SMARTCOURSE_ADMIN_EMAIL"], os.environ["SMARTCOURSE_ADMIN_PASSWORD"])
                with httpx.Client(base_url=cloud.api_urls["lms"]) as http:
                    student = http.post("/api/v1/auth/register", json={
                        "email": f"cold-target-{int(time.time())}@bench.smartcourse.local", "password": PASSWORD})
                student_id = student.json()["id"]
                cold = measure(cloud, admin, student_id, runs, _lms_targets(cloud, admin, student_id, courses))
                print("warm latency…", flush=True)
                gateway, handler_only, overhead, lms_gateway, lms_handler = _warm(cloud, n, courses, n_writes)
                drain, latency = _events(cloud)
        finally:
            cloud.stop()
    section = _events_section(drain, latency)
    if events_only:
        OUT.write_text(_splice_events(OUT.read_text() if OUT.exists() else "", section))
    else:
        # After the local cloud is stopped: the AI and Analytics benchmarks start their own database and need
        # the CPU.
        print("init per API function…", flush=True)
        init_section = init_time.run(runs)
        ai_sections = [*_ai_sections(AI_ONLY["ai"]), _analytics_section()]
        OUT.write_text(_splice_ai(_splice_events(_render(init_section, cold, gateway, handler_only, overhead, runs,
                                                         lms_gateway, lms_handler), section), ai_sections))
        # Last, on a local cloud of its own: the burst saturates the machine.
        OUT.write_text(_splice(OUT.read_text(), burst.SECTION_HEADING, _burst_section()))
    print(OUT.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
