"""The whole local cloud in one object: managed-service stand-ins, schema, the runner, demo data.

Used by ``python -m localcloud up`` (``make run``) and by the e2e tests, so
what a developer runs is what the tests exercise.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localcloud.services import EMULATOR_ENV, KafkaService, MotoService, PostgresService, free_port
from localcloud.synth import ROOT, synthesize

log = logging.getLogger("localcloud")

DEFAULT_PORTS = {"postgres": 5432, "kafka": 9092, "aws": 4566, "lms": 8000, "ai": 8001, "analytics": 8002,
                 "lambda": 8010}
# One database per service; a service's migrations run when migrations/<service>/env.py exists.
SERVICE_DATABASES = {"lms": "smartcourse_lms", "notification": "smartcourse_notification"}
# Where links in mail point (the web app's address; no web app runs locally yet). APP_BASE_URL overrides it.
LOCAL_APP_BASE_URL = "http://127.0.0.1:3000"


@dataclass
class LocalCloudConfig:
    state_dir: Path = ROOT / ".localcloud"
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    # When the preferred port is taken, take the next free one instead of failing.
    next_free_port: bool = True
    database_url: str | None = None  # external PostgreSQL
    kafka_bootstrap_servers: str | None = None  # external Kafka
    aws_endpoint_url: str | None = None  # external emulator (LocalStack)
    stage: str = "dev"
    seed: bool = True
    cdk_out: Path | None = None  # where the synthesized assembly goes (default: state_dir/cdk.out)

    @classmethod
    def from_env(cls, **overrides: Any) -> LocalCloudConfig:
        config = cls(
            database_url=os.environ.get("DATABASE_URL") or None,
            kafka_bootstrap_servers=os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or None,
            aws_endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None,
        )
        for key, value in overrides.items():
            setattr(config, key, value)
        return config


def create_event_topics(kafka: KafkaService, partitions: int = 3) -> list[str]:
    """Every event topic, with a few partitions so that per-key (per-aggregate) ordering means something.

    Idempotent: existing topics are left as they are.
    """
    from smartcourse_events.topics import ALL_TOPICS

    kafka.create_topics(list(ALL_TOPICS), partitions=partitions)
    return list(ALL_TOPICS)


class LocalCloud:
    def __init__(self, config: LocalCloudConfig) -> None:
        self.config = config
        state = config.state_dir
        state.mkdir(parents=True, exist_ok=True)
        self.ports = {name: self._port(name, p) for name, p in config.ports.items()}
        self.postgres = PostgresService(state / "pgdata", self.ports["postgres"], config.database_url)
        self.kafka = KafkaService(self.ports["kafka"], config.kafka_bootstrap_servers, state / "kafka.log")
        self.moto = MotoService(self.ports["aws"], config.aws_endpoint_url, state / "aws-emulator.log")
        self.runner: Any = None
        self.seeded: dict[str, Any] = {}

    def _port(self, name: str, preferred: int) -> int:
        external = {
            "postgres": self.config.database_url,
            "kafka": self.config.kafka_bootstrap_servers,
            "aws": self.config.aws_endpoint_url,
        }.get(name)
        if external or not self.config.next_free_port:
            return preferred
        return free_port(preferred)

    @property
    def api_urls(self) -> dict[str, str]:
        return {name: f"http://127.0.0.1:{self.ports[name]}" for name in ("lms", "ai", "analytics")}

    def start(self) -> None:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        os.environ.update({k: os.environ.get(k, v) for k, v in EMULATOR_ENV.items()})
        log.info("starting PostgreSQL, Kafka and the AWS emulator")
        self.postgres.start()
        self.kafka.start()
        self.moto.start()
        self._create_topics()
        self.database_urls = {svc: self.postgres.database_url(db) for svc, db in SERVICE_DATABASES.items()}
        self._migrate()
        if self.config.seed:
            # Before the APIs open, so that a healthy API already has its demo data.
            self._seed()
        log.info("synthesizing the CDK app")
        cdk_out = synthesize(self.config.cdk_out or self.config.state_dir / "cdk.out", self.config.stage)
        from localcloud.runner import LocalCloudRunner

        overrides = {
            "DATABASE_URL": self.postgres.url,
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka.bootstrap,
            "AWS_ENDPOINT_URL": self.moto.endpoint,
            "PUBLIC_BASE_URL": self.api_urls["lms"],
            "APP_BASE_URL": os.environ.get("APP_BASE_URL") or LOCAL_APP_BASE_URL,
            **EMULATOR_ENV,
        }
        api_ports = {name: self.ports[name] for name in ("lms", "ai", "analytics")}
        self.runner = LocalCloudRunner(cdk_out=cdk_out, ports=api_ports, overrides=overrides,
                                       state_dir=self.config.state_dir / "runner",
                                       lambda_port=self.ports.get("lambda", 0))
        self.runner.start()
        if self.config.seed:
            # The content bucket exists only now (the runner provisions it): the demo articles' content.
            self._seed_content()
        self.write_endpoints()

    def _create_topics(self) -> None:
        create_event_topics(self.kafka)

    def _migrate(self) -> None:
        from smartcourse.db.migrate import migrations_root, upgrade

        for service, url in self.database_urls.items():
            if not (migrations_root() / service / "env.py").exists():
                log.info("no migrations for the %s database yet", service)
                continue
            log.info("migrating the %s database", service)
            upgrade(url, service=service)

    def _seed(self) -> None:
        from smartcourse_lms.seed import seed_demo

        self.seeded = seed_demo(self.database_urls["lms"])

    def _seed_content(self) -> None:
        import boto3
        from smartcourse_lms.seed import seed_article_content

        bucket = self.runner.function_environment("lms-assets-complete-upload")["CONTENT_BUCKET"]
        s3 = boto3.client("s3", endpoint_url=self.moto.endpoint, region_name=EMULATOR_ENV["AWS_REGION"])

        def put_object(key: str, body: bytes) -> None:
            s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")

        def read_object(key: str) -> bytes | None:
            try:
                return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
            except s3.exceptions.NoSuchKey:
                return None

        self.seeded["articles"] = seed_article_content(self.database_urls["lms"], put_object, read_object)

    def endpoints(self) -> dict[str, Any]:
        # Only the APIs the template declares are served (AI and Analytics arrive with their issues).
        served = self.runner.urls if self.runner is not None else {}
        return {
            "apis": served,
            "docs": {name: f"{url}/docs" for name, url in served.items()},
            "postgres": self.postgres.url.replace("postgresql+psycopg://", "postgresql://", 1),
            "databases": {svc: url.replace("+psycopg", "") for svc, url in getattr(self, "database_urls", {}).items()},
            "kafka": self.kafka.bootstrap,
            "aws": self.moto.endpoint,
            "lambda": self.runner.lambda_url if self.runner is not None else None,
        }

    def write_endpoints(self) -> Path:
        path = self.config.state_dir / "endpoints.json"
        path.write_text(json.dumps(self.endpoints(), indent=2) + "\n")
        return path

    def stop(self) -> None:
        if self.runner is not None:
            self.runner.stop()
            self.runner = None
        self.moto.stop()
        self.kafka.stop()
        self.postgres.stop()
