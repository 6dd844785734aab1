"""Secrets Manager reads with a small in-process TTL cache.

boto3 is imported on first use only: it costs ~300 ms of cold start and most
functions never read a secret. It honours ``AWS_ENDPOINT_URL`` by itself, so
the same code reads the local emulator.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

DEFAULT_TTL_SECONDS = 300.0

_cache: dict[str, tuple[float, str]] = {}
_lock = threading.Lock()
_client: Any = None


def _secrets_client() -> Any:
    global _client
    if _client is None:
        import boto3

        _client = boto3.client("secretsmanager")
    return _client


def get_secret_string(arn: str, ttl_seconds: float = DEFAULT_TTL_SECONDS) -> str:
    """The ``SecretString`` of ``arn``; re-read after ``ttl_seconds`` so rotations take effect."""
    now = time.monotonic()
    with _lock:
        hit = _cache.get(arn)
        if hit and hit[0] > now:
            return hit[1]
    value = _secrets_client().get_secret_value(SecretId=arn)["SecretString"]
    with _lock:
        _cache[arn] = (now + ttl_seconds, value)
    return str(value)


def get_secret_json(arn: str, ttl_seconds: float = DEFAULT_TTL_SECONDS) -> dict[str, Any]:
    value = json.loads(get_secret_string(arn, ttl_seconds))
    if not isinstance(value, dict):
        raise ValueError("secret is not a JSON object")
    return value


def clear_cache() -> None:
    """Forget cached values and the client (tests switch emulator endpoints)."""
    global _client
    with _lock:
        _cache.clear()
        _client = None
