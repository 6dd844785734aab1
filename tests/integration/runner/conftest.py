"""One runner over the test CDK app (tests/runner_app), shared by the runner tests.

Uses the session's Kafka (Tansu) and AWS emulator (moto) fixtures from tests/conftest.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from localcloud.runner import LocalCloudRunner
from localcloud.services import free_port

IDLE_TTL_SECONDS = 3.0
SCHEDULE_INTERVAL_SECONDS = 1.0


@pytest.fixture(scope="session")
def runner_cdk_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
    from tests.runner_app.app import synth

    return synth(tmp_path_factory.mktemp("runner-app") / "cdk.out")


@pytest.fixture(scope="session")
def runner_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("runner-out")


@pytest.fixture(scope="session")
def runner_overrides(kafka, moto, runner_out: Path) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": moto.endpoint,
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
        "DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:5999",
        "RUNNER_TEST_OUT": str(runner_out),
    }


@pytest.fixture(scope="session")
def runner(runner_cdk_out: Path, runner_overrides: dict[str, str],
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloudRunner]:
    instance = LocalCloudRunner(
        runner_cdk_out, ports={"lms": free_port()}, overrides=runner_overrides,
        state_dir=tmp_path_factory.mktemp("runner-state"), max_concurrency=4, idle_ttl=IDLE_TTL_SECONDS,
        schedule_interval_override_seconds=SCHEDULE_INTERVAL_SECONDS,
    )
    instance.start()
    # The authorizers' warm workers are warmed up by a call each: done before a test counts authorizer calls.
    assert instance.wait_warm(60)
    yield instance
    instance.stop()


@pytest.fixture
def lms(runner: LocalCloudRunner) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=runner.urls["lms"], timeout=30) as client:
        yield client
