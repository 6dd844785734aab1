"""Init duration of every API function, and of the FastAPI peer, as the local runner's workers report it.

Each sample is one fresh worker process (``localcloud.worker``, started by the runner's own
:class:`localcloud.workers.Worker`) with the environment the runner gives that function — read from the
synthesized dev template — and the ``init_ms`` it reports before its first invocation: import of the handler
module plus module init, interpreter start excluded, like Lambda's *Init Duration* without SnapStart. No local
cloud is needed: init opens no connection (a function that did would fail here, on an unused port). Rounds go
over every function in turn, so the machine's noise spreads over all of them; medians.

The peer (``tests/benchmarks/peer_fastapi/app.py``: the list-courses route as a FastAPI + Mangum + SQLAlchemy
ORM app) is started the same way in the same rounds. ``python -m tests.benchmarks.init_time`` prints the section.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from localcloud.provision import LocalResources
from localcloud.synth import synthesize
from localcloud.template import load
from localcloud.workers import FunctionSpec, Worker, build_environment

ROOT = Path(__file__).resolve().parents[2]
CDK_OUT = ROOT / ".build" / "cdk.out.init"
PEER_DIR = Path(__file__).resolve().parent / "peer_fastapi"
PEER = "peer: FastAPI + Mangum + SQLAlchemy ORM"
GOAL_MS = 300.0
PEER_RATIO_GOAL = 0.5
OURS_VS_PEER = "lms-courses-list"  # the peer serves the same route
SECTION_HEADING = "## Cold start per function"
# Nothing listens on port 1: a function that connected during init would fail (and be reported), not wait.
UNUSED = "127.0.0.1:1"
OVERRIDES = {"DATABASE_URL": f"postgresql://bench@{UNUSED}", "AWS_ENDPOINT_URL": f"http://{UNUSED}",
             "AWS_ENDPOINT_URL_LAMBDA": f"http://{UNUSED}", "KAFKA_BOOTSTRAP_SERVERS": UNUSED}


@dataclass(frozen=True)
class InitTime:
    function: str
    handler: str
    samples: tuple[float, ...]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples)

    @property
    def min_ms(self) -> float:
        return min(self.samples)


def api_function_names() -> list[str]:
    """Every function an API invokes: those with routes (``api_functions``) and the authorizers."""
    from stacks.services import ALL_FUNCTIONS, APIS, api_functions

    names = [f.name for api in APIS for f in api_functions(api)]
    return names + [f.name for f in ALL_FUNCTIONS if f.name.endswith("-authorizer") and f.name not in names]


def api_specs(cdk_out: Path, state_dir: Path) -> list[FunctionSpec]:
    """The runner's spec of each API function in the synthesized template (environment as its workers get it)."""
    model = load(cdk_out)
    resources = LocalResources(model, state_dir)
    by_name = {fn.name: fn for fn in model.functions.values()}
    specs = []
    for name in api_function_names():
        fn = by_name[name]
        template_env = resources.environment(fn)
        overrides = dict(OVERRIDES)
        if not template_env.get("DB_NAME"):
            overrides.pop("DATABASE_URL")
        env = build_environment(template_env=template_env, overrides=overrides,
                                function_name=resources.function_name(fn), handler=fn.handler, code_dir=fn.code_dir,
                                layer_dirs=fn.layer_dirs, memory_mb=fn.memory_mb)
        specs.append(FunctionSpec(key=fn.qid, name=fn.name, function_name=resources.function_name(fn),
                                  arn=resources.function_arn(fn), handler=fn.handler, code_dir=fn.code_dir,
                                  layer_dirs=fn.layer_dirs, environment=env, timeout=float(fn.timeout),
                                  memory_mb=fn.memory_mb))
    return specs


def peer_spec() -> FunctionSpec:
    env = build_environment(template_env={}, overrides={"DATABASE_URL": OVERRIDES["DATABASE_URL"]},
                            function_name="peer-fastapi", handler="app.handler", code_dir=PEER_DIR, layer_dirs=[],
                            memory_mb=512)
    return FunctionSpec(key="peer", name=PEER, function_name="peer-fastapi", arn="arn:aws:lambda:::peer-fastapi",
                        handler="app.handler", code_dir=PEER_DIR, layer_dirs=[], environment=env, timeout=30.0,
                        memory_mb=512)


def init_ms(spec: FunctionSpec, python: str = sys.executable) -> float:
    """One cold start: a fresh worker's reported init duration (raises when its init fails)."""
    worker = Worker(spec, python, None)
    try:
        error = worker.wait_ready()
    finally:
        worker.stop()
    if error is not None:
        raise RuntimeError(f"{spec.name}: init failed: {error}")
    return worker.init_ms


def measure(specs: list[FunctionSpec], rounds: int, log: Callable[[str], None] = print) -> list[InitTime]:
    samples: dict[str, list[float]] = {s.name: [] for s in specs}
    for round_no in range(rounds):
        for spec in specs:
            samples[spec.name].append(init_ms(spec))
        log(f"init round {round_no + 1}/{rounds}")
    return [InitTime(s.name, s.handler, tuple(samples[s.name])) for s in specs]


def render(results: list[InitTime], peer: InitTime, rounds: int) -> list[str]:
    ours = next(r for r in results if r.function == OURS_VS_PEER)
    ratio = ours.median_ms / peer.median_ms
    within = sum(r.median_ms <= GOAL_MS for r in results)
    lines = [
        "",
        SECTION_HEADING,
        "",
        f"Init of every function an API invokes ({len(results)}: each API's routed functions, the notification "
        "routes served by the LMS API, the authorizer), without SnapStart: median and minimum of "
        f"{rounds} cold starts, each a fresh runner worker process (`localcloud.worker`) with the function's "
        "environment from the synthesized dev template, reporting Lambda's *Init Duration* (import of the handler "
        "module + module init, interpreter start excluded); rounds go over all functions in turn "
        f"(`tests/benchmarks/init_time.py`, `BENCH_ONLY=cold`). Goal: init ≤ {GOAL_MS:.0f} ms — "
        f"**{within} of {len(results)} within**.",
        "",
        "| Function | handler | init ms (median) | min ms | ≤ goal |",
        "|---|---|---:|---:|:---:|",
    ]
    lines += [f"| {r.function} | `{r.handler}` | {r.median_ms:.0f} | {r.min_ms:.0f} | "
              f"{'yes' if r.median_ms <= GOAL_MS else 'no'} |" for r in results]
    lines += [
        "",
        "### Peer: the same route on FastAPI + Mangum + SQLAlchemy ORM",
        "",
        "`GET /api/v1/courses` (published courses, newest first, paginated, with the total and each course's "
        "module and active-enrollment counts) written for the original system's stack — ORM models of the LMS "
        "tables, an engine and session factory at import, a FastAPI app behind a Mangum handler "
        "(`tests/benchmarks/peer_fastapi/app.py`) — started the same way in the same rounds.",
        "",
        "| Function | init ms (median) | min ms |",
        "|---|---:|---:|",
        f"| {OURS_VS_PEER} | {ours.median_ms:.0f} | {ours.min_ms:.0f} |",
        f"| {peer.function} | {peer.median_ms:.0f} | {peer.min_ms:.0f} |",
        "",
        f"Ratio ours / peer: **{ratio:.2f}** (goal ≤ {PEER_RATIO_GOAL}: "
        f"{'met' if ratio <= PEER_RATIO_GOAL else 'not met'}).",
        "",
        "Why init is small: a handler imports its resolver, its route's pydantic models and the catalogue; the "
        "service layer behind it (SQLAlchemy, tables and repositories, the outbox-nudge Lambda client, the AI "
        "providers) is imported by a cached getter on the first request (`smartcourse_<service>.deferred`, "
        "`smartcourse.deferred`), so a cold start without SnapStart pays for it in its first invocation instead. "
        "In staging and prod the API and consumer functions run with Lambda SnapStart: the before-snapshot hook "
        "(`smartcourse.snapstart`) imports those deferred modules and builds the nudge client, so a restored "
        "function starts with them loaded — lazy in init, primed for the snapshot (docs/deploy.md).",
    ]
    return lines


def run(rounds: int = 5, log: Callable[[str], None] = print) -> str:
    """Synthesize (cached), measure every API function and the peer, and return the markdown section."""
    cdk_out = synthesize(CDK_OUT)
    with tempfile.TemporaryDirectory(prefix="smartcourse-init-") as state:
        specs = api_specs(cdk_out, Path(state))
    peer = peer_spec()
    measured = measure([*specs, peer], rounds, log)
    return "\n".join(render(measured[:-1], measured[-1], rounds)) + "\n"


if __name__ == "__main__":
    print(run())
