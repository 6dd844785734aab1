"""Burst: 100 virtual users for 60 s against the local cloud (``BENCH_ONLY=burst``; not a test).

Each virtual user (VU) is a new learner: register, log in, browse (list courses, get a course, its modules, a
module's assets), enroll in a published course, then loop until the end — record progress on one of the
course's assets, search (AI API), read their analytics, browse — with a think time between actions. VUs are spawned at
a steady rate, like locust's ``--spawn-rate``. Every request counts as an error unless it gets the status the
scenario expects: a 5xx, an unexpected 4xx, a client timeout or a connection error.

The load runs in a child process (``python -m tests.benchmarks.burst URLS_JSON``, asyncio + httpx, one connection
pool per VU and API) so that it does not share the runner's interpreter (and its GIL) with the gateways it
measures; the child prints one JSON line of samples that :func:`run` turns into the report section.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

SECTION_HEADING = "## Burst (100 virtual users, 60 s)"
ROOT = Path(__file__).resolve().parents[2]
PREFIX = "/api/v1"
PASSWORD = "Burst-pass-123"
VUS = int(os.environ.get("BENCH_BURST_VUS", "100"))
SECONDS = float(os.environ.get("BENCH_BURST_SECONDS", "60"))
SPAWN_RATE = float(os.environ.get("BENCH_BURST_SPAWN_RATE", "2"))  # VUs started per second (locust --spawn-rate)
# Uniform pause between a VU's actions, "low,high" seconds.
THINK_SECONDS = tuple(float(v) for v in os.environ.get("BENCH_BURST_THINK", "1,3").split(","))
CLIENT_TIMEOUT_SECONDS = 60.0  # above API Gateway's 29 s: the gateway's own answer is what gets counted
# A fresh Idempotency-Key on every mutating request, as a client that may retry sends it; "0" leaves it off.
IDEMPOTENCY_KEYS = os.environ.get("BENCH_BURST_IDEMPOTENCY_KEYS", "1") != "0"
SEARCH_TERMS = ("python", "data", "introduction", "design", "testing", "web", "course", "learning", "api", "sql")


@dataclass
class Sample:
    route: str
    status: int  # 0: no HTTP answer (timeout, connection error)
    ms: float
    error: str | None = None


@dataclass
class Recorder:
    samples: list[Sample] = field(default_factory=list)

    async def call(self, client: httpx.AsyncClient, route: str, method: str, path: str, expect: int,
                   **kwargs: Any) -> httpx.Response | None:
        started = time.perf_counter()
        try:
            response = await client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            self.samples.append(Sample(route, 0, (time.perf_counter() - started) * 1000, type(exc).__name__))
            return None
        ms = (time.perf_counter() - started) * 1000
        error = None if response.status_code == expect else f"{response.status_code}: {response.text[:200]}"
        self.samples.append(Sample(route, response.status_code, ms, error))
        return response if error is None else None


def _mutating(token: str | None = None) -> dict[str, str]:
    """Headers of a mutating request; with IDEMPOTENCY_KEYS a fresh Idempotency-Key (a retry would reuse it)."""
    headers = {"Idempotency-Key": str(uuid.uuid4())} if IDEMPOTENCY_KEYS else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


async def _virtual_user(index: int, run_id: str, urls: dict[str, str], end: float, rec: Recorder) -> None:
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)  # one connection per API, as a browser tab
    timeout = httpx.Timeout(CLIENT_TIMEOUT_SECONDS)
    async with httpx.AsyncClient(base_url=urls["lms"], limits=limits, timeout=timeout) as lms, \
            httpx.AsyncClient(base_url=urls["ai"], limits=limits, timeout=timeout) as ai, \
            httpx.AsyncClient(base_url=urls["analytics"], limits=limits, timeout=timeout) as analytics:
        email = f"burst-{run_id}-{index}@bench.smartcourse.local"
        if await rec.call(lms, "POST /auth/register", "POST", f"{PREFIX}/auth/register", 201,
                          json={"email": email, "password": PASSWORD}, headers=_mutating()) is None:
            return
        login = await rec.call(lms, "POST /auth/login", "POST", f"{PREFIX}/auth/login", 200,
                               json={"email": email, "password": PASSWORD}, headers=_mutating())
        if login is None:
            return
        token = login.json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}

        async def browse() -> tuple[str, list[str]] | None:
            listed = await rec.call(lms, "GET /courses", "GET", f"{PREFIX}/courses", 200,
                                    params={"limit": "20"}, headers=auth)
            if listed is None:
                return None
            items = listed.json()["items"]
            if not items:
                rec.samples.append(Sample("GET /courses", 200, 0.0, "no published course"))
                return None
            course_id = random.choice(items)["id"]
            if await rec.call(lms, "GET /courses/{id}", "GET", f"{PREFIX}/courses/{course_id}", 200,
                              headers=auth) is None:
                return None
            modules = await rec.call(lms, "GET /modules/by-course/{id}", "GET",
                                     f"{PREFIX}/modules/by-course/{course_id}", 200, headers=auth)
            if modules is None:
                return None
            asset_ids: list[str] = []
            for module in _items(modules.json()):
                assets = await rec.call(lms, "GET /assets/by-module/{id}", "GET",
                                        f"{PREFIX}/assets/by-module/{module['id']}", 200, headers=auth)
                if assets is None:
                    return None
                asset_ids += [a["id"] for a in _items(assets.json())]
            return course_id, asset_ids

        async def think() -> None:
            await asyncio.sleep(random.uniform(*THINK_SECONDS))

        # Browse until a course with assets comes up, then enroll in it.
        target: tuple[str, list[str]] | None = None
        while target is None or not target[1]:
            if time.monotonic() >= end:
                return
            target = await browse()
            if target is None:
                return
            await think()
        course_id, asset_ids = target
        if await rec.call(lms, "POST /enrollments", "POST", f"{PREFIX}/enrollments", 201,
                          json={"course_id": course_id}, headers=_mutating(token)) is None:
            return
        percent: dict[str, int] = defaultdict(int)
        step = 0
        # The loop opens with what a new enrollee does first (learn, search, look at their progress) and browses
        # last: a VU that enrolled late in the run still reaches every route.
        while time.monotonic() < end:
            await think()
            action = step % 4
            step += 1
            if action == 3:
                await browse()
            elif action == 0:
                asset_id = random.choice(asset_ids)
                percent[asset_id] = min(95, percent[asset_id] + 5)  # a real write each time, never completing
                await rec.call(lms, "POST /progress/assets/{id}", "POST", f"{PREFIX}/progress/assets/{asset_id}",
                               200, json={"progress_percent": percent[asset_id], "time_spent_seconds": 30},
                               headers=_mutating(token))
            elif action == 1:
                await rec.call(ai, "POST /search (AI)", "POST", f"{PREFIX}/search", 200,
                               json={"query": random.choice(SEARCH_TERMS), "limit": 5}, headers=_mutating(token))
            elif action == 2:
                await rec.call(analytics, "GET /analytics/me/progress", "GET", f"{PREFIX}/analytics/me/progress",
                               200, headers=auth)


def _items(body: Any) -> list[dict[str, Any]]:
    return body["items"] if isinstance(body, dict) else body


async def _load(urls: dict[str, str]) -> dict[str, Any]:
    rec = Recorder()
    run_id = uuid.uuid4().hex[:8]
    started = time.monotonic()
    end = started + SECONDS
    tasks = []
    for index in range(VUS):
        # Spawned at SPAWN_RATE per second; every VU stops at the common end.
        await asyncio.sleep(max(0.0, started + index / SPAWN_RATE - time.monotonic()))
        tasks.append(asyncio.create_task(_virtual_user(index, run_id, urls, end, rec)))
    await asyncio.gather(*tasks)
    elapsed = time.monotonic() - started
    return {"elapsed_s": elapsed, "samples": [[s.route, s.status, round(s.ms, 2), s.error] for s in rec.samples]}


# --------------------------------------------------------------------------------------------- report


def _percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def render(result: dict[str, Any], load_average: tuple[float, float, float], functions: dict[str, Any]) -> str:
    samples = [Sample(*row) for row in result["samples"]]
    errors = [s for s in samples if s.error is not None]
    by_route: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        by_route[sample.route].append(sample)
    elapsed = float(result["elapsed_s"])
    lines = [
        "",
        SECTION_HEADING,
        "",
        f"{VUS} virtual users against the local cloud (`BENCH_ONLY=burst`, tests/benchmarks/burst.py), spawned "
        f"at {SPAWN_RATE:g} per second (locust's spawn rate) and all stopped {SECONDS:g} s after the first: each "
        "registers, logs in, browses (list courses, get a course, its modules, each module's assets), enrolls in "
        "a published course, then loops — record progress, AI search, analytics `me/progress`, browse — with "
        f"{THINK_SECONDS[0]:g} to {THINK_SECONDS[1]:g} s of think time (uniform) between actions, as locust's "
        "`between(1, 3)`. "
        + ("Every write carries a fresh `Idempotency-Key`, as a client that may retry sends it. "
           if IDEMPOTENCY_KEYS else "No write carries an `Idempotency-Key` (`BENCH_BURST_IDEMPOTENCY_KEYS=0`). ")
        + "An error is any 5xx, unexpected 4xx, client timeout (60 s) or connection error. The load generator is a "
        f"separate process on the same {os.cpu_count()} cores as everything it measures; the cloud starts cold "
        "(no warm-up but the authorizer's two pre-started workers, see local-cloud.md, *Concurrency*).",
        "",
        f"**{len(samples):,} requests in {elapsed:.1f} s ({len(samples) / elapsed:.1f} requests/s), "
        f"{len(errors)} errors.** Load average during the run (1/5/15 min, at its end): "
        f"{load_average[0]:.2f} / {load_average[1]:.2f} / {load_average[2]:.2f}.",
        "",
        "| Route | requests | errors | p50 ms | p95 ms | max ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for route, group in sorted(by_route.items()):
        ordered = sorted(s.ms for s in group)
        lines.append(f"| {route} | {len(group):,} | {sum(1 for s in group if s.error)} | "
                     f"{_percentile(ordered, 0.5):.0f} | {_percentile(ordered, 0.95):.0f} | {ordered[-1]:.0f} |")
    if errors:
        kinds = Counter(f"{s.route} → {s.error.splitlines()[0][:120]}" for s in errors if s.error)
        lines += ["", "Errors:", ""] + [f"- {count} x {kind}" for kind, count in kinds.most_common(10)]
    authorizer = functions.get("lms-authorizer", {})
    hashed = [functions.get(name, {}) for name in ("lms-auth-register", "lms-auth-login")]
    search = functions.get("ai-search", {})
    lines += [
        "",
        "The runner during the burst: the authorizer answered "
        f"{authorizer.get('invocations', 0):,} invocations with {authorizer.get('timeouts', 0)} timeouts "
        f"(duration p95 {authorizer.get('duration_ms_p95')} ms); register and login (argon2id hashing, "
        f"CPU-bound) ran {sum(h.get('invocations', 0) for h in hashed):,} invocations, duration p95 "
        f"{' / '.join(str(h.get('duration_ms_p95')) for h in hashed)} ms, "
        f"waiting for a CPU slot p95 {' / '.join(str(h.get('cpu_wait_ms_p95')) for h in hashed)} ms.",
        "",
        "Reading: each register and login is an argon2id hash (~180 ms of CPU on four threads; the parameters are "
        f"production's). At {SPAWN_RATE:g} new users per second that is {2 * SPAWN_RATE:g} hashes per second, "
        f"about {2 * SPAWN_RATE * 0.18:.2g} cores, on a machine whose {os.cpu_count()} cores also run PostgreSQL, "
        "the broker, the AWS emulator, the gateways, the load generator and every worker's start. Their latency is "
        "the queue for a CPU slot and a worker, not the function (its duration above); in AWS each execution "
        "environment hashes on CPU of its own. The other routes' tail is the same machine: the runner keeps them "
        "out of the hashing queue, not off the cores. AI search varies most from run to run: each new worker's "
        "first invocation loads the ONNX embedding model (seconds of CPU here) while searches queue for it; "
        f"its invocations took p50 {search.get('duration_ms_p50')} ms, p95 {search.get('duration_ms_p95')} ms "
        f"({search.get('cold_starts', 0)} cold starts).",
        "",
    ]
    return "\n".join(lines)


def run(cloud: Any) -> str:
    """The report section of one burst against ``cloud`` (a started LocalCloud)."""
    urls = {name: cloud.api_urls[name] for name in ("lms", "ai", "analytics")}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-m", "tests.benchmarks.burst", json.dumps(urls)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=SECONDS + 300)
    if out.returncode != 0:
        raise RuntimeError(f"burst load failed:\n{out.stderr[-4000:]}")
    load_average = os.getloadavg()
    result = json.loads(out.stdout.splitlines()[-1])
    stats = cloud.runner.stats()
    if os.environ.get("BENCH_BURST_STATS"):  # the runner's whole figures, for a closer look
        Path(os.environ["BENCH_BURST_STATS"]).write_text(json.dumps(stats, indent=2))
    return render(result, load_average, stats["functions"])


if __name__ == "__main__":
    print(json.dumps(asyncio.run(_load(json.loads(sys.argv[1])))))
