"""AWS_EMULATOR picks the local cloud's AWS emulator in one place (localcloud.services)."""

from __future__ import annotations

from pathlib import Path

import pytest
from localcloud.cloud import LocalCloudConfig
from localcloud.services import LocalStackService, MotoService, emulator_kind, emulator_service


def test_moto_unless_told_otherwise() -> None:
    assert emulator_kind({}) == "moto"
    assert emulator_kind({"AWS_EMULATOR": ""}) == "moto"
    assert emulator_kind({"AWS_EMULATOR": " LocalStack "}) == "localstack"


def test_an_unknown_emulator_is_refused() -> None:
    with pytest.raises(ValueError, match="expected one of moto, localstack"):
        emulator_kind({"AWS_EMULATOR": "docker"})
    with pytest.raises(ValueError, match="unknown AWS emulator"):
        emulator_service("docker")


def test_the_factory_builds_the_named_emulator(tmp_path: Path) -> None:
    moto = emulator_service("moto", port=4999)
    assert isinstance(moto, MotoService) and moto.kind == "moto" and moto.endpoint == "http://127.0.0.1:4999"
    assert moto.serves("sesv2")
    local = emulator_service("localstack", port=4998, state_dir=tmp_path)
    assert isinstance(local, LocalStackService) and local.kind == "localstack"
    assert not local.serves("sesv2") and local.serves("ses")  # community edition: SES v1 only
    external = emulator_service("localstack", external_endpoint="http://127.0.0.1:4566")
    external.start()  # an external emulator is never started (nor stopped)
    assert external.endpoint == "http://127.0.0.1:4566"


def test_localstack_runs_offline_on_loopback_with_path_style_queues(tmp_path: Path) -> None:
    env = LocalStackService(port=4998).environment(tmp_path)
    assert env["GATEWAY_LISTEN"] == "127.0.0.1:4998" and env["SQS_ENDPOINT_STRATEGY"] == "path"
    assert env["PROVIDER_OVERRIDE_DYNAMODB"] == "moto" and env["DISABLE_EVENTS"] == "1"
    assert env["FILESYSTEM_ROOT"].startswith(str(tmp_path)) and env["XDG_CACHE_HOME"].startswith(str(tmp_path))
    assert not any(key.startswith("AWS_") for key in env)  # the project's endpoint settings are not LocalStack's


def test_the_local_cloud_config_follows_aws_emulator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_EMULATOR", "localstack")
    assert LocalCloudConfig.from_env().aws_emulator == "localstack"
    monkeypatch.delenv("AWS_EMULATOR")
    assert LocalCloudConfig().aws_emulator == "moto"
