"""Nudge the outbox publisher right after a commit that wrote outbox rows (commit → topic within seconds).

An asynchronous Lambda invoke (``InvocationType=Event``) with ``{"reason": "nudge"}``.
Best effort: any error is logged and swallowed, the schedule is the backstop.
The client is cached per endpoint and built with short timeouts and no retries:
a request must not wait long on a nudge. Locally, boto3 sends it to
``AWS_ENDPOINT_URL_LAMBDA`` (the local cloud's Lambda Invoke API).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from typing import Any

log = logging.getLogger(__name__)

NUDGE_PAYLOAD = json.dumps({"reason": "nudge"}).encode()
_clients: dict[tuple[str | None, ...], Any] = {}
_lock = threading.Lock()


def _client() -> Any:
    # Keyed on what decides where the call goes, so a changed endpoint (tests, local cloud restart) is honoured.
    key = (os.environ.get("AWS_ENDPOINT_URL_LAMBDA"), os.environ.get("AWS_ENDPOINT_URL"),
           os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"))
    client = _clients.get(key)
    if client is None:
        with _lock:
            client = _clients.get(key)
            if client is None:
                import boto3
                from botocore.config import Config

                from smartcourse.settings import get_settings

                settings = get_settings()
                config = Config(connect_timeout=settings.outbox_nudge_connect_timeout_seconds,
                                read_timeout=settings.outbox_nudge_read_timeout_seconds,
                                retries={"max_attempts": 0, "mode": "standard"})
                client = boto3.client("lambda", config=config)
                _clients[key] = client
    return client


def reset_clients() -> None:
    """Forget the clients (after a SnapStart restore: a client must not outlive the snapshot's credentials)."""
    with _lock:
        _clients.clear()


def nudge(function_name: str) -> bool:
    """Ask ``function_name`` to drain now; True when the invoke was accepted. Never raises."""
    try:
        _client().invoke(FunctionName=function_name, InvocationType="Event", Payload=NUDGE_PAYLOAD)
        return True
    except Exception as exc:
        log.warning("outbox nudge of %s failed (the schedule will publish): %s: %s", function_name,
                    type(exc).__name__, exc)
        return False


def prepare() -> None:
    """Build the client now, when this function nudges (``OUTBOX_PUBLISHER_FUNCTION``).

    Called before a SnapStart snapshot (``smartcourse.deferred.prime``), so a restored function has it; without
    SnapStart the first nudge builds it (botocore would cost init ~200 ms). Never raises: a nudge is best
    effort, and so is preparing one.
    """
    if not os.environ.get("OUTBOX_PUBLISHER_FUNCTION"):
        return
    try:
        _client()
    except Exception as exc:
        log.warning("outbox nudge client not prepared: %s: %s", type(exc).__name__, exc)
