"""Kafka client configuration from the settings: plaintext locally, SASL_SSL + OAUTHBEARER (MSK IAM) on AWS."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from urllib.parse import parse_qs, urlparse

import pytest
from kafka.net.sasl.oauth import AbstractTokenProvider
from smartcourse.kafka_client import connection_config
from smartcourse.settings import get_settings


@pytest.fixture()
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    get_settings.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    get_settings.cache_clear()


def test_plaintext_by_default(env: pytest.MonkeyPatch) -> None:
    env.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092, 127.0.0.1:9093")
    env.delenv("KAFKA_AUTH", raising=False)
    config = connection_config()
    assert config == {"bootstrap_servers": ["127.0.0.1:9092", "127.0.0.1:9093"], "security_protocol": "PLAINTEXT"}


def test_no_bootstrap_servers_is_an_error(env: pytest.MonkeyPatch) -> None:
    env.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    with pytest.raises(RuntimeError, match="KAFKA_BOOTSTRAP_SERVERS"):
        connection_config()


def test_iam_uses_sasl_ssl_with_a_signed_msk_token(env: pytest.MonkeyPatch) -> None:
    env.setenv("KAFKA_BOOTSTRAP_SERVERS", "boot-abc.kafka-serverless.eu-west-1.amazonaws.com:9098")
    env.setenv("KAFKA_AUTH", "iam")
    env.setenv("AWS_REGION", "eu-west-1")
    env.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    env.setenv("AWS_SECRET_ACCESS_KEY", "secret-example")
    env.delenv("AWS_SESSION_TOKEN", raising=False)
    env.delenv("AWS_PROFILE", raising=False)
    config = connection_config()
    assert config["security_protocol"] == "SASL_SSL" and config["sasl_mechanism"] == "OAUTHBEARER"
    provider = config["sasl_oauth_token_provider"]
    assert isinstance(provider, AbstractTokenProvider)
    token = provider.token()
    assert provider.token() == token  # reused until it nears expiry
    url = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    query = parse_qs(urlparse(url).query)
    assert query["Action"] == ["kafka-cluster:Connect"]
    assert "eu-west-1" in query["X-Amz-Credential"][0] and "AKIDEXAMPLE" in query["X-Amz-Credential"][0]


def test_iam_needs_a_region(env: pytest.MonkeyPatch) -> None:
    env.setenv("KAFKA_BOOTSTRAP_SERVERS", "b:9098")
    env.setenv("KAFKA_AUTH", "iam")
    env.delenv("AWS_REGION", raising=False)
    env.delenv("AWS_DEFAULT_REGION", raising=False)
    with pytest.raises(RuntimeError, match="AWS_REGION"):
        connection_config()
