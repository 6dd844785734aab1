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


def assert_code_and_shared_layer(outdir: Path, stack: str) -> None:
    code = asset_dir(outdir, stack, "AWS::Lambda::Function", ("smartcourse:function", "lms-auth-register"))
    assert (code / "lms").is_dir() and (code / "migrations").is_dir()
    assert not list(code.rglob("__pycache__")) and not list(code.rglob("*.pyc"))
    shared = asset_dir(outdir, stack, "AWS::Lambda::LayerVersion", ("smartcourse:layer", "shared"))
    assert (shared / "python" / "smartcourse" / "catalogue.py").is_file()
    assert (shared / "python" / "smartcourse_events").is_dir()


def assert_local_cloud_reads_the_event_wiring(outdir: Path) -> None:
    """The local runner's template reader finds every trigger of the catalogue in the synthesized assembly."""
    from localcloud.template import load
    from smartcourse import catalogue

    model = load(outdir)
    names = {qid: fn.name for qid, fn in model.functions.items()}
    event_functions = [f for fs in catalogue.EVENT_FUNCTIONS.values() for f in fs]
    kafka = {(names[m.function], t) for m in model.mappings.values() if m.kind == "kafka" for t in m.topics}
    assert kafka == {(f.name, t) for f in event_functions if f.kafka for t in f.kafka.topics}
    sqs = {names[m.function]: m for m in model.mappings.values() if m.kind == "sqs"}
    for spec in (f for f in event_functions if f.sqs):
        mapping = sqs[spec.name]
        assert mapping.report_batch_item_failures
        assert mapping.queue is not None
        queue = model.queues[mapping.queue]
        assert queue.dead_letter_queue in model.queues and queue.max_receive_count == 5
    schedules = {names[s.function]: s.expression for s in model.schedules.values()}
    assert schedules == {f.name: f.schedule.expression for f in event_functions if f.schedule}
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


def test_local_synth_bundles_code_and_shared_layer(tmp_path: Path) -> None:
    """What the local cloud runs: dev, ``smartcourse:local`` (the dependency layer is a placeholder)."""
    result = run_app(tmp_path, context={"stage": "dev", "smartcourse:local": "true"})
    assert result.returncode == 0, result.stderr[-4000:]
    stacks = {a for a, v in json.loads((tmp_path / "manifest.json").read_text())["artifacts"].items()
              if v["type"] == "aws:cloudformation:stack"}
    assert stacks == {"smartcourse-dev-shared", "smartcourse-dev-lms", "smartcourse-dev-notification"}
    assert_code_and_shared_layer(tmp_path, "smartcourse-dev-lms")
    assert_local_cloud_reads_the_event_wiring(tmp_path)
    deps = asset_dir(tmp_path, "smartcourse-dev-lms", "AWS::Lambda::LayerVersion",
                     ("smartcourse:layer", "dependencies"))
    assert [p.name for p in (deps / "python").iterdir()] == ["README.txt"]


@pytest.mark.slow
def test_prod_synth_builds_the_arm64_dependency_layer(tmp_path: Path) -> None:
    """Full bundling, as ``cdk synth -c stage=prod``: manylinux aarch64 / cp312 wheels (uv caches them)."""
    result = run_app(tmp_path, "-c", "stage=prod")
    assert result.returncode == 0, result.stderr[-4000:]
    assert_code_and_shared_layer(tmp_path, "smartcourse-prod-lms")
    deps = asset_dir(tmp_path, "smartcourse-prod-lms", "AWS::Lambda::LayerVersion",
                     ("smartcourse:layer", "dependencies")) / "python"
    native = list((deps / "pydantic_core").glob("_pydantic_core.cpython-312-aarch64-linux-gnu.so"))
    assert native, sorted(p.name for p in (deps / "pydantic_core").iterdir())
    for package in ("aws_lambda_powertools", "sqlalchemy", "psycopg", "jwt", "argon2", "alembic"):
        assert (deps / package).is_dir(), package
    assert not (deps / "bin").exists()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    assert all(r.get("summary", {}).get("status") != "failure" for r in report.get("pluginReports", []))
