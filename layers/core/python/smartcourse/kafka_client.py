"""Kafka clients (kafka-python) built from the settings: plaintext locally, IAM over SASL_SSL on MSK Serverless.

``KAFKA_AUTH=iam``: SASL_SSL + OAUTHBEARER with a token from the MSK IAM SASL
signer (the function role's credentials, region from ``AWS_REGION``).
Anything else: PLAINTEXT (Tansu in the local cloud, a plain cluster).

kafka is imported lazily: only functions that talk to the broker pay for it.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from smartcourse.settings import Settings, get_settings

# MSK IAM tokens live 15 minutes; renewing a minute early keeps a reconnect from presenting an expired one.
_TOKEN_RENEW_MARGIN_MS = 60_000


@dataclass(frozen=True)
class ProducerTuning:
    """Timeouts sized for a Lambda invocation (60 s) rather than for a long-lived service, plus batching."""

    # Fail fast when no broker answers: the outbox keeps the rows and the schedule retries.
    bootstrap_timeout_ms: int = 5_000
    max_block_ms: int = 5_000
    request_timeout_ms: int = 10_000
    delivery_timeout_ms: int = 15_000
    reconnect_backoff_max_ms: int = 1_000
    linger_ms: int = 5
    batch_size: int = 512 * 1024
    max_in_flight_requests_per_connection: int = 5


def _token_provider_base() -> type:
    from kafka.net.sasl.oauth import AbstractTokenProvider

    return AbstractTokenProvider


def msk_iam_token_provider(region: str) -> Any:
    """An OAUTHBEARER token provider for MSK IAM auth, reusing a token until shortly before it expires."""

    class MskIamTokenProvider(_token_provider_base()):  # type: ignore[misc]
        def __init__(self) -> None:
            self._lock = threading.Lock()
            self._token: str | None = None
            self._expires_ms = 0

        def token(self) -> str:
            with self._lock:
                now_ms = int(time.time() * 1000)
                if self._token is None or now_ms >= self._expires_ms - _TOKEN_RENEW_MARGIN_MS:
                    from aws_msk_iam_sasl_signer import MSKAuthTokenProvider

                    token, expires_ms = MSKAuthTokenProvider.generate_auth_token(region)
                    self._token, self._expires_ms = str(token), int(expires_ms)
                return self._token

    return MskIamTokenProvider()


def _region() -> str:
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not region:
        raise RuntimeError("KAFKA_AUTH=iam needs AWS_REGION")
    return region


def connection_config(settings: Settings | None = None, bootstrap_servers: str | None = None) -> dict[str, Any]:
    """Bootstrap servers and security settings shared by producers, consumers and admin clients."""
    settings = settings or get_settings()
    servers = bootstrap_servers or settings.kafka_bootstrap_servers
    if not servers:
        raise RuntimeError("no Kafka configured: set KAFKA_BOOTSTRAP_SERVERS")
    config: dict[str, Any] = {"bootstrap_servers": [s.strip() for s in servers.split(",") if s.strip()]}
    if settings.kafka_auth.lower() == "iam":
        config |= {
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": "OAUTHBEARER",
            "sasl_oauth_token_provider": msk_iam_token_provider(_region()),
        }
    else:
        config["security_protocol"] = "PLAINTEXT"
    return config


def make_producer(settings: Settings | None = None, *, bootstrap_servers: str | None = None,
                  tuning: ProducerTuning | None = None, client_id: str | None = None) -> Any:
    """A KafkaProducer waiting for all in-sync replicas (acks=all), idempotent, uncompressed.

    Raises when no broker answers within ``bootstrap_timeout_ms`` (kafka-python bootstraps eagerly).
    """
    from kafka import KafkaProducer

    tuning = tuning or ProducerTuning()
    settings = settings or get_settings()
    return KafkaProducer(
        **connection_config(settings, bootstrap_servers),
        client_id=client_id or f"smartcourse-{settings.service}-producer",
        acks="all",
        enable_idempotence=True,
        compression_type=None,
        linger_ms=tuning.linger_ms,
        batch_size=tuning.batch_size,
        max_in_flight_requests_per_connection=tuning.max_in_flight_requests_per_connection,
        bootstrap_timeout_ms=tuning.bootstrap_timeout_ms,
        max_block_ms=tuning.max_block_ms,
        request_timeout_ms=tuning.request_timeout_ms,
        delivery_timeout_ms=tuning.delivery_timeout_ms,
        reconnect_backoff_max_ms=tuning.reconnect_backoff_max_ms,
    )


def make_admin(settings: Settings | None = None, *, bootstrap_servers: str | None = None,
               client_id: str | None = None) -> Any:
    from kafka import KafkaAdminClient

    settings = settings or get_settings()
    return KafkaAdminClient(**connection_config(settings, bootstrap_servers),
                            client_id=client_id or f"smartcourse-{settings.service}-admin")
