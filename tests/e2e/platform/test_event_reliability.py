"""The broker goes down while requests commit: nothing is lost, nothing is applied twice.

A local cloud of its own (its own PostgreSQL and emulator) and a broker this
test stops and starts, so that the outage disturbs no other test. Like an MSK
cluster, and unlike the local cloud's default in-memory Tansu, that broker keeps
its topics, logs and committed offsets across the restart (Tansu's S3 storage,
on an emulator of its own). Requests keep succeeding while the broker is down,
their events wait in the outbox, and once the broker is back every event
reaches each consumer's effect exactly once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from localcloud.cloud import LocalCloud, LocalCloudConfig
from localcloud.mailbox import fetch_emails, wait_for_email
from localcloud.services import EMULATOR_ENV, KafkaService, MotoService, free_port

from tests.e2e.support import unique_email

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]
PASSWORD = "Str0ng-pass"


@pytest.fixture(scope="module")
def durable_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaService]:
    import boto3

    state = tmp_path_factory.mktemp("outage-broker")
    storage = MotoService(port=free_port(), log_path=state / "storage.log")
    storage.start()
    boto3.client("s3", endpoint_url=storage.endpoint, region_name=EMULATOR_ENV["AWS_REGION"],
                 aws_access_key_id=EMULATOR_ENV["AWS_ACCESS_KEY_ID"],
                 aws_secret_access_key=EMULATOR_ENV["AWS_SECRET_ACCESS_KEY"]).create_bucket(Bucket="tansu")
    broker = KafkaService(port=free_port(), log_path=state / "kafka.log", storage_engine="s3://tansu/",
                          environment={**EMULATOR_ENV, "AWS_ENDPOINT": storage.endpoint, "AWS_ALLOW_HTTP": "true"})
    broker.start()
    yield broker
    broker.stop()
    storage.stop()


@pytest.fixture(scope="module")
def own_cloud(durable_broker: KafkaService, server_dirs: Callable[[str], Path]) -> Iterator[LocalCloud]:
    ports = {name: free_port() for name in ("postgres", "aws", "lms", "ai", "analytics")}
    ports["kafka"] = durable_broker.port
    config = LocalCloudConfig(state_dir=server_dirs("outage-cloud"), ports=ports, next_free_port=False,
                              cdk_out=ROOT / ".build" / "cdk.out.e2e", seed=False,
                              kafka_bootstrap_servers=durable_broker.bootstrap)
    cloud = LocalCloud(config)
    cloud.start()
    yield cloud
    cloud.stop()


def _register(http: httpx.Client) -> tuple[str, str]:
    email = unique_email("outage")
    started = time.perf_counter()
    response = http.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD,
                                                        "full_name": "Outage Learner"})
    assert response.status_code == 201, response.text
    assert time.perf_counter() - started < 10, "a request waited for the broker"
    return response.json()["id"], email


def _pending(lms: psycopg.Connection) -> int:
    row = lms.execute("SELECT count(*) FROM outbox WHERE status <> 'published'").fetchone()
    assert row is not None
    return int(row[0])


def test_events_committed_while_the_broker_is_down_are_delivered_once_it_is_back(
        own_cloud: LocalCloud, durable_broker: KafkaService) -> None:
    aws = own_cloud.aws.endpoint
    databases = own_cloud.endpoints()["databases"]
    with httpx.Client(base_url=own_cloud.api_urls["lms"], timeout=30) as http, \
            psycopg.connect(databases["lms"], autocommit=True) as lms, \
            psycopg.connect(databases["notification"], autocommit=True) as notification:
        # The path works before the outage.
        _, before = _register(http)
        wait_for_email(aws, before, match=lambda m: any("verify-email" in u for u in m.links), timeout=60)

        durable_broker.stop()
        during = [_register(http) for _ in range(3)]
        assert _pending(lms) >= 3  # waiting in the outbox, not lost
        time.sleep(2)  # nudged publishers fail meanwhile: rows back off, nothing is marked published
        assert _pending(lms) >= 3

        durable_broker.start()
        deadline = time.monotonic() + 120
        while _pending(lms) and time.monotonic() < deadline:
            # The schedule's job (every minute in the template), run sooner: rows whose backoff ended go out.
            own_cloud.runner.invoke("lms-outbox-publisher", {"reason": "test"})
            time.sleep(1)
        assert _pending(lms) == 0

        for _, email in during:
            wait_for_email(aws, email, match=lambda m: any("verify-email" in u for u in m.links), timeout=90)
        time.sleep(3)  # let any duplicate delivery surface before counting
        for user_id, email in during:
            event_ids = [r[0] for r in lms.execute(
                "SELECT event_id FROM outbox WHERE aggregate_id = %s AND event_type = 'user.registered'",
                (user_id,)).fetchall()]
            assert len(event_ids) == 1
            # Applied by the notification consumer (the key makes a second row impossible: the mailbox below
            # is what shows the effect happened once).
            applied = notification.execute("SELECT count(*) FROM processed_events WHERE event_id = %s",
                                           (event_ids[0],)).fetchone()
            assert applied is not None and applied[0] == 1
            sends = notification.execute("SELECT count(*), min(status) FROM sends WHERE user_id = %s AND "
                                         "channel = 'email'", (user_id,)).fetchone()
            assert sends == (1, "sent")
            assert len([m for m in fetch_emails(aws, email) if any("verify-email" in u for u in m.links)]) == 1
