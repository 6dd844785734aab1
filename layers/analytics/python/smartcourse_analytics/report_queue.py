"""The AWS side of reports: the build queue (SQS) and the reports bucket (S3 put, presigned GET).

Clients are created on first use (cold starts stay small); the endpoint comes from the environment
(``AWS_ENDPOINT_URL`` locally), the bucket and queue from the function's settings (its grants).
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Sequence
from typing import Any

from smartcourse import storage
from smartcourse.aws_clients import aws_client
from smartcourse.settings import get_settings

CONNECT_TIMEOUT_SECONDS = 3
READ_TIMEOUT_SECONDS = 10
# A download link is shown to its owner right after a GET: minutes are enough, and a leaked link dies soon.
DOWNLOAD_URL_EXPIRES_SECONDS = 300
SQS_BATCH = 10  # SendMessageBatch takes at most ten entries
CONTENT_TYPES = {"html": "text/html; charset=utf-8", "csv": "text/csv; charset=utf-8"}


def report_key(owner_user_id: uuid.UUID, report_id: uuid.UUID, fmt: str) -> str:
    return f"reports/{owner_user_id}/{report_id}.{fmt}"


def _queue_url() -> str:
    url = get_settings().analytics_report_queue_url
    if not url:
        raise RuntimeError("ANALYTICS_REPORT_QUEUE_URL is not set")
    return url


def _bucket() -> str:
    bucket = get_settings().reports_bucket
    if not bucket:
        raise RuntimeError("REPORTS_BUCKET is not set")
    return bucket


def _sqs() -> Any:
    # One attempt: a send the SDK retried after a lost answer would queue the build twice (harmless, but noise).
    return aws_client("sqs", attempts=1, connect_timeout=CONNECT_TIMEOUT_SECONDS, read_timeout=READ_TIMEOUT_SECONDS)


class QueueUnavailable(RuntimeError):
    """SQS could not be reached or refused a message: nothing may be committed as queued."""


def send_builds(report_ids: Sequence[uuid.UUID]) -> None:
    """Queue the build of each report (one message ``{"report_id": ...}`` each); any refused entry fails the call."""
    from botocore.exceptions import BotoCoreError, ClientError

    sqs, queue_url = _sqs(), _queue_url()
    for start in range(0, len(report_ids), SQS_BATCH):
        batch = report_ids[start:start + SQS_BATCH]
        try:
            response = sqs.send_message_batch(QueueUrl=queue_url, Entries=[
                {"Id": str(i), "MessageBody": json.dumps({"report_id": str(report_id)})}
                for i, report_id in enumerate(batch)])
        except (BotoCoreError, ClientError) as exc:
            raise QueueUnavailable(f"the report queue did not answer: {type(exc).__name__}") from exc
        if response.get("Failed"):
            raise QueueUnavailable(f"SQS refused {len(response['Failed'])} report build(s)")


def report_id_of(body: str) -> uuid.UUID:
    """The report a build message names (a malformed message raises ValueError)."""
    data = json.loads(body)
    if not isinstance(data, dict):
        raise ValueError("a report build message is a JSON object")
    return uuid.UUID(str(data["report_id"]))


def retry_soon(receipt_handle: str, delay_seconds: int) -> None:
    """Make a received message visible again soon (best effort; else its visibility timeout applies)."""
    with contextlib.suppress(Exception):
        _sqs().change_message_visibility(QueueUrl=_queue_url(), ReceiptHandle=receipt_handle,
                                         VisibilityTimeout=delay_seconds)


def put_report(key: str, body: str, fmt: str) -> None:
    storage.put(_bucket(), key, body.encode("utf-8"), CONTENT_TYPES[fmt])


def download_url(key: str) -> str:
    return storage.presign_get(_bucket(), key, expires=DOWNLOAD_URL_EXPIRES_SECONDS)
