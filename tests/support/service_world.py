"""Every service of the platform in one process: a database each, the AWS emulator's bucket and queues, and the
switch between services (a handler sees only its own service's environment, as its deployed function does).

``state(world)`` is what the platform holds: every table of every database (an md5 of its rows), the messages
waiting in the queues and the objects in the bucket. A request that changes nothing leaves it equal.
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from smartcourse.catalogue import Service
from sqlalchemy import Engine, text

SERVICES = (Service.LMS, Service.NOTIFICATION, Service.AI, Service.ANALYTICS)

# The process-wide use cases of each service, built from the settings on first use (dropped on every switch).
_SINGLETONS = ("smartcourse_lms.auth.service", "smartcourse_lms.courses.service", "smartcourse_lms.assets.service",
               "smartcourse_lms.enrollments.service", "smartcourse_notification.service")
_CACHED_GETTERS = (("smartcourse_ai.service", ("get_assistant", "get_course_ai", "get_indexer")),
                   ("smartcourse_analytics.service", ("get_analytics",)),
                   ("smartcourse_analytics.reports", ("get_reports",)))


@dataclass
class ServiceWorld:
    urls: dict[Service, str]
    engines: dict[Service, Engine]
    s3: Any
    sqs: Any
    bucket: str  # the content bucket (LMS uploads and quizzes, AI indexing)
    index_queue: str  # the AI index jobs (ai-generate-embeddings plans into it)
    report_queue: str  # the analytics report requests

    def environment(self, service: Service) -> dict[str, str]:
        return {"DATABASE_URL": self.urls[service], "DB_NAME": f"smartcourse_{service}",
                "SERVICE_NAME": str(service), "IDEMPOTENCY_TABLE": idempotency_table(service),
                "CONTENT_BUCKET": self.bucket, "AI_INDEX_QUEUE_URL": self.index_queue,
                "ANALYTICS_REPORT_QUEUE_URL": self.report_queue, "REPORTS_BUCKET": self.bucket,
                "AI_RATE_LIMIT_PER_MINUTE": "100000"}


def idempotency_table(service: Service) -> str:
    return f"it-{service}-idempotency"


def build(postgres: Any, moto: Any, prefix: str) -> ServiceWorld:
    """Migrated databases of every service, an idempotency table per service, a bucket and two queues."""
    import boto3
    from smartcourse import idempotency
    from smartcourse.db.engine import normalise_url
    from smartcourse.db.migrate import upgrade
    from sqlalchemy import create_engine

    dynamodb = boto3.client("dynamodb", endpoint_url=moto.endpoint, region_name="us-east-1")
    urls: dict[Service, str] = {}
    for service in SERVICES:
        dynamodb.create_table(TableName=idempotency_table(service), BillingMode="PAY_PER_REQUEST",
                              AttributeDefinitions=[{"AttributeName": idempotency.KEY_ATTRIBUTE,
                                                     "AttributeType": "S"}],
                              KeySchema=[{"AttributeName": idempotency.KEY_ATTRIBUTE, "KeyType": "HASH"}])
        urls[service] = postgres.database_url(f"{prefix}_{service}_{uuid.uuid4().hex[:8]}")
        upgrade(urls[service], service=str(service))
    s3 = boto3.client("s3", endpoint_url=moto.endpoint, region_name="us-east-1")
    sqs = boto3.client("sqs", endpoint_url=moto.endpoint, region_name="us-east-1")
    bucket = f"{prefix}-content-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    queues = [sqs.create_queue(QueueName=f"{prefix}-{name}-{uuid.uuid4().hex[:8]}")["QueueUrl"]
              for name in ("index", "reports")]
    return ServiceWorld(urls, {s: create_engine(normalise_url(u)) for s, u in urls.items()}, s3, sqs, bucket,
                        *queues)


def reset_service_caches() -> None:
    from smartcourse import storage
    from smartcourse.db import engine as engine_module
    from smartcourse.settings import get_settings

    get_settings.cache_clear()
    engine_module.reset_engine()
    storage.reset_client()
    for module_name in _SINGLETONS:
        singleton_module: Any = importlib.import_module(module_name)
        singleton_module._service = None
    for module_name, getters in _CACHED_GETTERS:
        module = importlib.import_module(module_name)
        for getter in getters:
            getattr(module, getter).cache_clear()


@contextmanager
def serving(world: ServiceWorld, service: Service) -> Iterator[None]:
    """Run as a function of ``service`` (its environment, fresh caches); the previous environment afterwards."""
    try:
        with pytest.MonkeyPatch.context() as mp:
            for name, value in world.environment(service).items():
                mp.setenv(name, value)
            reset_service_caches()
            yield
    finally:
        reset_service_caches()


def table_digests(engine: Engine) -> dict[str, str]:
    """Every table of the database by an md5 of its rows."""
    with engine.connect() as conn:
        tables = [r[0] for r in conn.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"))]
        digest = "SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM \"{}\" t"
        return {t: str(conn.execute(text(digest.format(t))).scalar()) for t in tables}  # names from pg_tables


def outbox_counts(world: ServiceWorld) -> dict[Service, int]:
    """Events written to the outbox of each service that has one."""
    counts = {}
    for service, engine in world.engines.items():
        with engine.connect() as conn:
            if conn.execute(text("SELECT to_regclass('public.outbox')")).scalar() is not None:
                counts[service] = int(conn.execute(text("SELECT count(*) FROM outbox")).scalar() or 0)
    return counts


def queued(world: ServiceWorld, queue_url: str) -> int:
    attributes = world.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def state(world: ServiceWorld) -> dict[str, Any]:
    """What the platform holds: its databases, the queues' messages and the bucket's objects."""
    objects = world.s3.list_objects_v2(Bucket=world.bucket).get("Contents", [])
    return {
        **{f"db:{service}": table_digests(engine) for service, engine in world.engines.items()},
        "queue:index": queued(world, world.index_queue),
        "queue:reports": queued(world, world.report_queue),
        "bucket": sorted((o["Key"], o["ETag"]) for o in objects),
    }
