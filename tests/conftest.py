"""Session-wide real infrastructure: PostgreSQL, a Kafka-protocol broker, the AWS emulator.

Started once per test session on free loopback ports (or taken from
DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS / AWS_ENDPOINT_URL when set) and
stopped at the end. Each is started only when a test asks for it. The AWS
emulator is moto's server, or LocalStack with ``AWS_EMULATOR=localstack``
(``make test-localstack``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from localcloud.services import (
    EMULATOR_ENV,
    AwsEmulator,
    KafkaService,
    PostgresService,
    emulator_kind,
    emulator_service,
    free_port,
)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def server_dirs(request: pytest.FixtureRequest) -> Iterator[Callable[[str], Path]]:
    """New directories for the servers the tests start, outside pytest's temp root.

    Every pytest session that starts on the machine makes that root private again (mode 0700), and PostgreSQL
    started by root runs as another user: under it, a second session (a developer's, a helper's) cut a running
    suite's server off its own data directory. Kept when a test failed (the servers' logs), removed otherwise.
    """
    root = Path(tempfile.mkdtemp(prefix="smartcourse-tests-"))
    yield lambda name: Path(tempfile.mkdtemp(prefix=f"{name}-", dir=root))
    if request.session.testsfailed == 0:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def runtime_dir(server_dirs: Callable[[str], Path]) -> Path:
    return server_dirs("localcloud")


@pytest.fixture(scope="session")
def postgres(runtime_dir: Path) -> Iterator[PostgresService]:
    service = PostgresService(data_dir=runtime_dir / "pgdata", port=free_port(),
                              external_url=os.environ.get("DATABASE_URL"))
    service.start()
    yield service
    service.stop()


@pytest.fixture(scope="session")
def kafka(runtime_dir: Path) -> Iterator[KafkaService]:
    service = KafkaService(port=free_port(), external_bootstrap=os.environ.get("KAFKA_BOOTSTRAP_SERVERS"),
                           log_path=runtime_dir / "kafka.log")
    service.start()
    yield service
    service.stop()


@pytest.fixture(scope="session")
def aws_emulator(runtime_dir: Path) -> Iterator[AwsEmulator]:
    """The AWS emulator AWS_EMULATOR names, its endpoint in AWS_ENDPOINT_URL for the whole session."""
    kind = emulator_kind()
    service = emulator_service(kind, port=free_port(), external_endpoint=os.environ.get("AWS_ENDPOINT_URL"),
                               log_path=runtime_dir / f"{kind}.log", state_dir=runtime_dir / kind)
    service.start()
    saved = {k: os.environ.get(k) for k in [*EMULATOR_ENV, "AWS_ENDPOINT_URL"]}
    os.environ.update(EMULATOR_ENV)
    os.environ["AWS_ENDPOINT_URL"] = service.endpoint
    yield service
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    service.stop()


@pytest.fixture(scope="session")
def moto(aws_emulator: AwsEmulator) -> AwsEmulator:
    """The session's AWS emulator under its historical name (moto or LocalStack alike: see ``aws_emulator``)."""
    return aws_emulator
