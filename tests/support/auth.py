"""An LMS database with the schema applied, a JWT key in the AWS emulator, and services wired to both."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from smartcourse.db.unit_of_work import unit_of_work_factory
from smartcourse_lms.auth.domain import ThrottlePolicy
from smartcourse_lms.auth.passwords import fast_passwords_for_tests
from smartcourse_lms.auth.service import AuthConfig, AuthService
from smartcourse_lms.auth.tokens import AccessTokens
from sqlalchemy import Engine, text

JWT_KEY = "integration-test-signing-key-0123456789abcdef"
ISSUER = "smartcourse-test"


class Clock:
    """A settable clock for the service (throttling windows and token expiry without sleeping)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def config(max_per_email: int = 5, max_per_ip: int = 50) -> AuthConfig:
    return AuthConfig(refresh_ttl=timedelta(days=30), verification_ttl=timedelta(hours=24),
                      reset_ttl=timedelta(hours=1),
                      throttle=ThrottlePolicy(max_per_email, max_per_ip, timedelta(minutes=15)))


def make_service(engine: Engine, clock: Clock | None = None, **overrides: Any) -> AuthService:
    return AuthService(unit_of_work_factory(engine), overrides.pop("config", None) or config(),
                       passwords=fast_passwords_for_tests(),
                       access_tokens=AccessTokens(JWT_KEY, ISSUER, 900),
                       clock=clock or Clock(), **overrides)


def fresh_database(postgres: Any, prefix: str = "auth") -> str:
    from smartcourse.db.migrate import upgrade

    url = postgres.database_url(f"{prefix}_{uuid.uuid4().hex[:10]}")
    upgrade(url)
    return url


@pytest.fixture(scope="module")
def lms_url(postgres: Any) -> str:
    return fresh_database(postgres)


@pytest.fixture(scope="module")
def engine(lms_url: str) -> Iterator[Engine]:
    # A larger pool than Lambda's: some tests run concurrent use cases.
    from smartcourse.db.engine import normalise_url
    from sqlalchemy import create_engine

    eng = create_engine(normalise_url(lms_url), pool_size=5, max_overflow=5)
    yield eng
    eng.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(engine: Engine, clock: Clock) -> AuthService:
    return make_service(engine, clock)


def count(engine: Engine, sql: str, **params: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql), params).scalar_one())


@pytest.fixture
def handler_env(lms_url: str, moto: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Environment as a deployed function sees it: DATABASE_URL and a JWT secret ARN in the emulator."""
    import boto3
    from smartcourse import secrets
    from smartcourse.db import engine as engine_module
    from smartcourse.settings import get_settings
    from smartcourse_lms.auth import service as service_module

    client = boto3.client("secretsmanager", endpoint_url=moto.endpoint, region_name="us-east-1")
    arn = client.create_secret(Name=f"jwt-{uuid.uuid4().hex[:8]}", SecretString=JWT_KEY)["ARN"]
    monkeypatch.setenv("DATABASE_URL", lms_url)
    monkeypatch.setenv("JWT_SECRET_ARN", arn)
    monkeypatch.setenv("JWT_ISSUER", ISSUER)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.endpoint)

    def reset() -> None:
        get_settings.cache_clear()
        secrets.clear_cache()
        engine_module.reset_engine()
        service_module._service = None

    reset()
    service_module._service = None
    yield arn
    reset()
