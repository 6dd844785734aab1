"""AWS clients of the AI service, created on first use (not at import: keeps cold starts small).

The endpoint comes from the environment (``AWS_ENDPOINT_URL`` locally), credentials from the function's role.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from smartcourse.aws_clients import aws_client, reset_clients  # noqa: F401 - reset_clients: for tests
from smartcourse.settings import get_settings

from smartcourse_ai.indexing.jobs import IndexJob

CONNECT_TIMEOUT_SECONDS = 3
READ_TIMEOUT_SECONDS = 10
SQS_BATCH = 10  # SendMessageBatch takes at most ten entries


def client(service: str) -> Any:
    # The quiz save is not retried by the SDK: a retried invoke could store the quiz twice.
    return aws_client(service, attempts=1 if service == "lambda" else 3, connect_timeout=CONNECT_TIMEOUT_SECONDS,
                      read_timeout=READ_TIMEOUT_SECONDS)


def enqueue_index_jobs(jobs: Sequence[IndexJob]) -> None:
    """Hand the jobs to ``ai-index-asset``; any entry SQS refuses fails the whole call (the caller retries)."""
    queue_url = get_settings().ai_index_queue_url
    if not queue_url:
        raise RuntimeError("AI_INDEX_QUEUE_URL is not set")
    sqs = client("sqs")
    for start in range(0, len(jobs), SQS_BATCH):
        batch = jobs[start:start + SQS_BATCH]
        response = sqs.send_message_batch(QueueUrl=queue_url, Entries=[
            {"Id": str(i), "MessageBody": job.to_json()} for i, job in enumerate(batch)])
        if response.get("Failed"):
            raise RuntimeError(f"SQS refused {len(response['Failed'])} index job(s)")


def retry_soon(queue_url: str, receipt_handle: str, delay_seconds: int) -> None:
    """Make a message visible again soon (best effort; else its visibility timeout applies)."""
    with contextlib.suppress(Exception):  # the visibility timeout is the fallback
        client("sqs").change_message_visibility(QueueUrl=queue_url, ReceiptHandle=receipt_handle,
                                                VisibilityTimeout=delay_seconds)


def invoke_save_quiz(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Invoke ``lms-assets-save-quiz`` (the LMS applies its staff rules) and return its answer."""
    function = get_settings().ai_save_quiz_function
    if not function:
        raise RuntimeError("AI_SAVE_QUIZ_FUNCTION is not set")
    response = client("lambda").invoke(FunctionName=function, InvocationType="RequestResponse",
                                       Payload=json.dumps(payload).encode())
    body = json.loads(response["Payload"].read() or b"{}")
    if response.get("FunctionError") or not isinstance(body, dict):
        raise RuntimeError("the LMS could not save the quiz")
    return body
