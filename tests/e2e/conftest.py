"""The whole local cloud, started once for the e2e tests, reached over HTTP only.

It reuses the session's PostgreSQL, Kafka and AWS emulator (so they are
started once) and runs the real runner over the real synthesized template.
The tests also read the LMS database (row counts, outbox) and invoke internal
functions through the runner, so they target the local cloud.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from localcloud.cloud import LocalCloud, LocalCloudConfig
from localcloud.services import free_port

from tests.e2e.support import Account, login, register

ROOT = Path(__file__).resolve().parents[2]
ADMIN_EMAIL = "admin@e2e.smartcourse.local"
ADMIN_PASSWORD = "E2e-admin-pass-1"


@pytest.fixture(scope="session")
def cloud(postgres, kafka, moto, tmp_path_factory) -> Iterator[LocalCloud]:
    os.environ["SMARTCOURSE_ADMIN_EMAIL"] = ADMIN_EMAIL
    os.environ["SMARTCOURSE_ADMIN_PASSWORD"] = ADMIN_PASSWORD
    ports = {"postgres": 0, "kafka": 0, "aws": 0,
             "lms": free_port(), "ai": free_port(), "analytics": free_port()}
    config = LocalCloudConfig(
        state_dir=tmp_path_factory.mktemp("e2e-cloud"),
        cdk_out=ROOT / ".build" / "cdk.out.e2e",
        ports=ports,
        database_url=postgres.url,
        kafka_bootstrap_servers=kafka.bootstrap,
        aws_endpoint_url=moto.endpoint,
        aws_emulator=moto.kind,
    )
    instance = LocalCloud(config)
    instance.start()
    yield instance
    instance.stop()


@pytest.fixture(scope="session")
def lms_url(cloud: LocalCloud) -> str:
    return cloud.api_urls["lms"]


@pytest.fixture(scope="session")
def http(lms_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=lms_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
def db(cloud: LocalCloud) -> Iterator[psycopg.Connection]:
    with psycopg.connect(cloud.endpoints()["databases"]["lms"], autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="session")
def admin(http: httpx.Client, cloud: LocalCloud) -> Account:
    tokens = login(http, ADMIN_EMAIL, ADMIN_PASSWORD)
    me = http.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}).json()
    return Account(me["id"], ADMIN_EMAIL, ADMIN_PASSWORD, tokens["access_token"], tokens["refresh_token"])


@pytest.fixture
def student(http: httpx.Client) -> Account:
    return register(http, "student")


@pytest.fixture
def instructor(http: httpx.Client) -> Account:
    return register(http, "instructor")
