"""The whole local cloud in one object: managed-service stand-ins, schema, the runner, demo data.

Used by ``python -m localcloud up`` (``make run``) and by the e2e tests, so
what a developer runs is what the tests exercise.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smartcourse.db.names import DATABASE_SERVICES, database_name, role_name

from localcloud.pages import PageServer
from localcloud.services import (
    EMULATOR_ENV,
    AwsEmulator,
    KafkaService,
    PostgresService,
    emulator_kind,
    emulator_service,
    free_port,
)
from localcloud.synth import ROOT, synthesize

log = logging.getLogger("localcloud")

# "app": the pages behind mail links (localcloud.pages); the functions' APP_BASE_URL points at them.
DEFAULT_PORTS = {"postgres": 5432, "kafka": 9092, "aws": 4566, "lms": 8000, "ai": 8001, "analytics": 8002,
                 "lambda": 8010, "app": 3000}
# One database and one login role per service (smartcourse.db.names); a service's migrations run when
# migrations/<service>/env.py exists.
SERVICES = DATABASE_SERVICES
# The local passwords of the service roles, generated once (state dir, mode 0600).
ROLE_PASSWORDS_FILE = "db-roles.json"


@dataclass
class LocalCloudConfig:
    state_dir: Path = ROOT / ".localcloud"
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    # When the preferred port is taken, take the next free one instead of failing.
    next_free_port: bool = True
    database_url: str | None = None  # external PostgreSQL
    kafka_bootstrap_servers: str | None = None  # external Kafka
    aws_endpoint_url: str | None = None  # an emulator already running (e.g. LocalStack in Docker)
    aws_emulator: str = field(default_factory=emulator_kind)  # moto or localstack: AWS_EMULATOR
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


def local_role_passwords(path: Path, services: tuple[str, ...] | list[str] = SERVICES) -> dict[str, str]:
    """Each service role's local password: read from ``path``, generated for a service that has none yet.

    The file is a JSON object (service -> password), readable by its owner only (0600).
    """
    passwords: dict[str, str] = {}
    if path.exists():
        loaded = json.loads(path.read_text())
        if isinstance(loaded, dict):
            passwords = {k: v for k, v in loaded.items() if isinstance(k, str) and isinstance(v, str) and v}
    missing = [service for service in services if service not in passwords]
    if missing:
        passwords.update({service: secrets.token_urlsafe(24) for service in missing})
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(json.dumps(passwords, indent=2, sort_keys=True) + "\n")
        os.replace(temporary, path)
    os.chmod(path, 0o600)
    return {service: passwords[service] for service in services}


# pg_hba.conf rules put first in the embedded server's file: the admin (``postgres``, which the local cloud
# migrates and seeds with) keeps trust on this machine; every other role logs in with its password, so a
# service role's password means something locally as it does in AWS.
HBA_MARKER = "# smartcourse local cloud: service roles log in with their password"
HBA_RULES = f"""{HBA_MARKER}
local   all   postgres                  trust
host    all   postgres   127.0.0.1/32   trust
host    all   postgres   ::1/128        trust
local   all   all                       scram-sha-256
host    all   all        127.0.0.1/32   scram-sha-256
host    all   all        ::1/128        scram-sha-256
# (end of the smartcourse local cloud rules)
"""
_HBA_PROBE_ROLE = "smartcourse_hba_probe"  # never created: only tells trust ("does not exist") from a password


def require_role_passwords(admin_url: str, timeout: float = 10.0) -> bool:
    """Make the (embedded, initdb ``--auth=trust``) server ask every role but the admin for its password.

    Prepends :data:`HBA_RULES` to the server's ``pg_hba.conf`` (once) and reloads it; returns True when it
    changed the file. Only for a server this machine owns: an external ``DATABASE_URL`` is left alone.
    """
    import psycopg

    conninfo = admin_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(conninfo, autocommit=True) as connection:
        row = connection.execute("SHOW hba_file").fetchone()
        assert row is not None
        hba = Path(row[0])
        current = hba.read_text()
        if HBA_MARKER in current:
            return False
        hba.write_text(HBA_RULES + current)  # in place: keeps the file's owner (the server's account)
        connection.execute("SELECT pg_reload_conf()")
    # The postmaster applies the reload asynchronously: wait until a password is asked for.
    from sqlalchemy import make_url

    server = make_url(admin_url)
    deadline = time.monotonic() + timeout
    while True:
        try:
            psycopg.connect(host=server.host, port=server.port, user=_HBA_PROBE_ROLE, password="-",  # noqa: S106
                            dbname="postgres", connect_timeout=5).close()
        except psycopg.OperationalError as error:
            if "password authentication failed" in str(error):
                return True
        if time.monotonic() > deadline:
            raise TimeoutError("the PostgreSQL server did not apply the password rules of pg_hba.conf")
        time.sleep(0.05)


def role_url(server_url: str, service: str, password: str | None = None) -> str:
    """``postgresql://smartcourse_<service>[:<password>]@host:port/smartcourse_<service>`` on ``server_url``."""
    from sqlalchemy import make_url

    url = make_url(server_url).set(drivername="postgresql", username=role_name(service), password=password,
                                   database=database_name(service))
    return url.render_as_string(hide_password=False)


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
        self.aws: AwsEmulator = emulator_service(config.aws_emulator, port=self.ports["aws"],
                                                 external_endpoint=config.aws_endpoint_url,
                                                 log_path=state / "aws-emulator.log", state_dir=state / "localstack")
        self.runner: Any = None
        self.pages: PageServer | None = None
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
        log.info("starting PostgreSQL, Kafka and the AWS emulator (%s)", self.aws.kind)
        self.postgres.start()
        self.kafka.start()
        self.aws.start()
        self._create_topics()
        if not self.config.database_url:
            require_role_passwords(self.postgres.url)
        self.role_passwords = local_role_passwords(self.config.state_dir / ROLE_PASSWORDS_FILE)
        # Admin URLs (migrations, seeding, tests); the functions get their service's role instead.
        self.database_urls = {svc: self.postgres.database_url(database_name(svc), create=False) for svc in SERVICES}
        self._provision()
        if self.config.seed:
            # Before the APIs open, so that a healthy API already has its demo data.
            self._seed()
        log.info("synthesizing the CDK app")
        cdk_out = synthesize(self.config.cdk_out or self.config.state_dir / "cdk.out", self.config.stage)
        from localcloud.runner import LocalCloudRunner

        # Mail links open these pages unless APP_BASE_URL names another web app. Bound before the functions'
        # environments are built: they carry its URL (port 0 when the config names none: any free port).
        pages = self.pages = PageServer(self.ports.get("app", 0), upstream=self.api_urls["lms"])
        pages.start()
        self.ports["app"] = pages.port
        overrides = {
            "DATABASE_URL": self.postgres.url,
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka.bootstrap,
            "AWS_ENDPOINT_URL": self.aws.endpoint,
            "PUBLIC_BASE_URL": self.api_urls["lms"],
            "ANALYTICS_BASE_URL": self.api_urls["analytics"],
            "APP_BASE_URL": os.environ.get("APP_BASE_URL") or pages.url,
            **EMULATOR_ENV,
        }
        api_ports = {name: self.ports[name] for name in ("lms", "ai", "analytics")}
        # Each function connects as its own service's role (the runner picks it by the function's DB_NAME).
        credentials = {database_name(svc): (role_name(svc), pw) for svc, pw in self.role_passwords.items()}
        self.runner = LocalCloudRunner(cdk_out=cdk_out, ports=api_ports, overrides=overrides,
                                       state_dir=self.config.state_dir / "runner",
                                       lambda_port=self.ports.get("lambda", 0), database_credentials=credentials)
        self.runner.start()
        if self.config.seed:
            # The content bucket exists only now (the runner provisions it): the demo articles' content.
            self._seed_content()
        self.write_endpoints()

    def _create_topics(self) -> None:
        create_event_topics(self.kafka)

    def _provision(self) -> None:
        """As the admin: each service's database and role (the local password), grants, migrations, grants."""
        from smartcourse.db.migrate import provision

        done = provision(self.postgres.url, self.role_passwords, services=SERVICES)
        log.info("databases %s; roles %s; migrated %s", ", ".join(done["databases"]), ", ".join(done["roles"]),
                 ", ".join(done["migrated"]))

    def _seed(self) -> None:
        from smartcourse_lms.seed import seed_demo

        self.seeded = seed_demo(self.database_urls["lms"])

    def _seed_content(self) -> None:
        import boto3
        from smartcourse_lms.seed import seed_article_content

        bucket = self.runner.function_environment("lms-assets-complete-upload")["CONTENT_BUCKET"]
        s3 = boto3.client("s3", endpoint_url=self.aws.endpoint, region_name=EMULATOR_ENV["AWS_REGION"])

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
            # Admin URLs (as before). database_roles: what each service's functions connect as (the passwords
            # are in db-roles.json, readable by its owner only, not in this file).
            "databases": {svc: url.replace("+psycopg", "") for svc, url in getattr(self, "database_urls", {}).items()},
            "database_roles": {svc: role_url(self.postgres.url, svc) for svc in getattr(self, "role_passwords", {})},
            "kafka": self.kafka.bootstrap,
            "aws": self.aws.endpoint,
            "aws_emulator": self.aws.kind,
            "lambda": self.runner.lambda_url if self.runner is not None else None,
            "pages": self.pages.url if self.pages is not None else None,
        }

    def write_endpoints(self) -> Path:
        path = self.config.state_dir / "endpoints.json"
        path.write_text(json.dumps(self.endpoints(), indent=2) + "\n")
        return path

    def stop(self) -> None:
        if self.pages is not None:
            self.pages.stop()
            self.pages = None
        if self.runner is not None:
            self.runner.stop()
            self.runner = None
        self.aws.stop()
        self.kafka.stop()
        self.postgres.stop()
