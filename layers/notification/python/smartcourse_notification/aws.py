"""AWS clients of the notification service, created on first use (not at import: keeps cold starts small).

Plain ``boto3.client(...)``: the endpoint comes from the environment (``AWS_ENDPOINT_URL`` or a
service-specific ``AWS_ENDPOINT_URL_<SERVICE>`` locally), credentials from the function's role.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from smartcourse.aws_clients import aws_client, reset_clients  # noqa: F401 - reset_clients: for tests
from smartcourse.observability import sqs_correlation_attributes
from smartcourse.settings import get_settings

_DELIVERY_SERVICES = frozenset({"ses", "sns"})
# Per call: connect + read. With at most two calls per send (token exchange, provider) and the projection wait
# they bound one record's worst case (sender.RECORD_WORST_CASE_MS), which the sender keeps within its time.
CONNECT_TIMEOUT_SECONDS = 3
READ_TIMEOUT_SECONDS = 8


def client(service: str) -> Any:
    # No SDK retries where a retried call could deliver twice (the send ledger decides retries), nor on the token
    # exchange (a failed send is retried through SQS): one call, one bounded wait.
    attempts = 1 if service in _DELIVERY_SERVICES | {"lambda"} else 3
    return aws_client(service, attempts=attempts, connect_timeout=CONNECT_TIMEOUT_SECONDS,
                      read_timeout=READ_TIMEOUT_SECONDS)


def enqueue_send(send_id: uuid.UUID) -> None:
    """Hand a queued send to the sender (SQS); the message carries only the id, never content."""
    queue_url = get_settings().notification_queue_url
    if not queue_url:
        raise RuntimeError("NOTIFICATION_QUEUE_URL is not set")
    # The correlation id of the event being consumed travels along, so the sender's log lines carry it too.
    attributes = sqs_correlation_attributes()
    client("sqs").send_message(QueueUrl=queue_url, MessageBody=json.dumps({"send_id": str(send_id)}),
                               **({"MessageAttributes": attributes} if attributes else {}))
