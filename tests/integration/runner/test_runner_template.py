"""Reading the assembly, provisioning state and schedule expressions (no HTTP)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from localcloud.mappings import next_fire
from localcloud.provision import LocalResources, generate_secret_string
from localcloud.template import load

pytestmark = pytest.mark.integration


def test_template_model(runner_cdk_out: Path) -> None:
    model = load(runner_cdk_out)
    functions = {fn.name: fn for fn in model.functions.values()}
    echo = functions["test-echo"]
    assert echo.handler == "echo.handler" and echo.memory_mb == 256 and echo.timeout == 3
    assert (echo.code_dir / "echo.py").exists()
    assert len(echo.layer_dirs) == 1 and (echo.layer_dirs[0] / "runner_sample_lib.py").exists()  # deps skipped
    assert functions["test-sleepy"].timeout == 2
    apis = {api.service: api for api in model.apis.values()}
    assert set(apis) == {"lms", "admin"} and apis["lms"].stage == "test"
    routes = {(r.method, r.resource_path): r for r in apis["lms"].routes}
    assert routes[("ANY", "/v1/items/{item_id}")].function == echo.qid
    private = routes[("GET", "/v1/private")]
    assert private.authorizer is not None and private.authorizer.type == "REQUEST"
    assert private.authorizer.ttl_seconds == 60
    assert private.authorizer.identity_sources == ["method.request.header.Authorization"]
    assert routes[("OPTIONS", "/v1/cors")].integration == "MOCK"
    assert apis["lms"].gateway_responses["MISSING_AUTHENTICATION_TOKEN"].status == 404
    kinds = sorted((m.kind, m.batch_size) for m in model.mappings.values())
    assert kinds == [("kafka", 10), ("sqs", 5)]
    assert [s.expression for s in model.schedules.values()] == ["rate(1 minute)"]
    assert len(model.secrets) == 2 and len(model.buckets) == 1 and len(model.queues) == 2


def test_generated_secrets_survive_a_restart(runner_cdk_out: Path, moto, tmp_path: Path) -> None:
    def values() -> dict[str, str]:
        resources = LocalResources(load(runner_cdk_out), tmp_path, aws_endpoint=moto.endpoint)
        resources.provision()
        client = resources.client("secretsmanager")
        return {key: client.get_secret_value(SecretId=attrs["Ref"])["SecretString"]
                for key, attrs in resources.attributes.items() if key in resources.model.secrets}

    first = values()
    assert len(first) == 2
    assert values() == first
    assert (tmp_path / "secrets.json").stat().st_mode & 0o777 == 0o600


def test_secret_generation_honours_the_spec() -> None:
    value = generate_secret_string({"PasswordLength": 50, "ExcludePunctuation": True, "ExcludeCharacters": "aA0"})
    assert len(value) == 50 and value.isalnum() and not set(value) & set("aA0")
    assert len(generate_secret_string({})) == 32


def test_schedule_expressions() -> None:
    now = datetime(2026, 1, 5, 10, 30, 15, tzinfo=UTC)  # a Monday
    assert next_fire("rate(5 minutes)", now) == datetime(2026, 1, 5, 10, 35, 15, tzinfo=UTC)
    assert next_fire("cron(0 6 * * ? *)", now) == datetime(2026, 1, 6, 6, 0, tzinfo=UTC)
    assert next_fire("cron(0/15 * * * ? *)", now) == datetime(2026, 1, 5, 10, 45, tzinfo=UTC)
    assert next_fire("cron(0 9 ? * MON-FRI *)", datetime(2026, 1, 9, 10, 0, tzinfo=UTC)) == datetime(
        2026, 1, 12, 9, 0, tzinfo=UTC)  # Friday after 9 -> Monday
    assert next_fire("cron(0 8 1 * ? *)", now) == datetime(2026, 2, 1, 8, 0, tzinfo=UTC)
    assert next_fire("at(2026-01-05T11:00:00)", now) == datetime(2026, 1, 5, 11, 0, tzinfo=UTC)
    assert next_fire("at(2026-01-05T10:00:00)", now) is None
    assert next_fire("cron(0 6 * * ? *)", now, "Europe/Paris") == datetime(2026, 1, 6, 5, 0, tzinfo=UTC)
