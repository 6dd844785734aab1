"""boto3 clients created on first use and kept per process (not at import: keeps cold starts small).

The endpoint comes from the environment (``AWS_ENDPOINT_URL`` locally), credentials from the function's role.
Each service says how often a call may be attempted: where a retried call could act twice (a send, an invoke
that stores something), once.
"""

from __future__ import annotations

import threading
from typing import Any

_clients: dict[str, Any] = {}
_lock = threading.Lock()


def aws_client(service: str, *, attempts: int, connect_timeout: float, read_timeout: float) -> Any:
    """The process's client for ``service`` (the first call's settings make it)."""
    existing = _clients.get(service)
    if existing is not None:
        return existing
    import boto3
    from botocore.config import Config

    with _lock:
        if service not in _clients:
            _clients[service] = boto3.client(service, config=Config(  # type: ignore[call-overload]
                retries={"mode": "standard", "total_max_attempts": attempts},
                connect_timeout=connect_timeout, read_timeout=read_timeout))
        return _clients[service]


def reset_clients() -> None:
    """Forget the clients (tests switch emulator endpoints)."""
    with _lock:
        _clients.clear()
