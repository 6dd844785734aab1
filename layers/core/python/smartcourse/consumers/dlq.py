"""The consumer dead-letter queue: what a dead-lettered record looks like, and sending it to SQS.

The message carries the record exactly as Lambda received it (key and value
still base64-encoded), so a redrive can rebuild the original event byte for
byte (see docs/events.md, "Redrive").

boto3 is imported on first use only: most invocations never dead-letter.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

_client: Any = None
_lock = threading.Lock()

# SQS rejects bodies over 256 KiB; a Kafka record can be up to 1 MiB.
SQS_MAX_BODY_BYTES = 256 * 1024


class DeadLetterError(RuntimeError):
    """The record could not be dead-lettered: the batch must fail so that it is delivered again."""


def original_record(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a Lambda Kafka record worth keeping, unchanged (base64 key/value, header byte lists)."""
    return {
        "topic": raw.get("topic"),
        "partition": raw.get("partition"),
        "offset": raw.get("offset"),
        "timestamp": raw.get("timestamp"),
        "timestampType": raw.get("timestampType"),
        "key": raw.get("key"),
        "value": raw.get("value"),
        "headers": raw.get("headers", []),
    }


def dead_letter_message(
    consumer: str,
    raw_record: Mapping[str, Any],
    error: BaseException,
    attempts: int,
    *,
    failed_at: datetime | None = None,
) -> dict[str, Any]:
    """The DLQ message body for one record (docs/events.md, "Dead-letter message")."""
    return {
        "consumer": consumer,
        "error": {"type": type(error).__name__, "message": str(error)[:2000]},
        "attempts": attempts,
        "failed_at": (failed_at or datetime.now(UTC)).isoformat(),
        "record": original_record(raw_record),
    }


def encode_message(message: Mapping[str, Any]) -> str:
    body = json.dumps(message, separators=(",", ":"), sort_keys=True)
    if len(body.encode()) > SQS_MAX_BODY_BYTES:
        # Keep where the record lives (topic/partition/offset): it can still be re-read from Kafka
        # while the topic retains it; the value itself does not fit in SQS.
        trimmed = dict(message)
        record = dict(trimmed["record"])
        record["value"] = None
        record["value_truncated"] = True
        trimmed["record"] = record
        body = json.dumps(trimmed, separators=(",", ":"), sort_keys=True)
    return body


def sqs_client() -> Any:
    global _client
    if _client is None:
        with _lock:
            if _client is None:
                import boto3
                from botocore.config import Config

                _client = boto3.client("sqs", config=Config(retries={"mode": "standard", "max_attempts": 3},
                                                            connect_timeout=5, read_timeout=10))
    return _client


def reset_client() -> None:
    """Forget the cached client (tests switch emulator endpoints)."""
    global _client
    with _lock:
        _client = None


def send_dead_letter(queue_url: str | None, message: Mapping[str, Any]) -> None:
    """Send one message to the DLQ; any failure (including no queue configured) is a ``DeadLetterError``."""
    if not queue_url:
        raise DeadLetterError("no dead-letter queue configured (CONSUMER_DLQ_URL)")
    try:
        sqs_client().send_message(QueueUrl=queue_url, MessageBody=encode_message(message))
    except Exception as exc:  # whatever broke, the record must not be lost
        raise DeadLetterError(f"could not send to the dead-letter queue: {type(exc).__name__}: {exc}") from exc
