"""SQS consumer with a partial batch response: records whose body starts with 'fail' fail."""

from __future__ import annotations

from typing import Any

from common import record


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    record("sqs_events", event)
    failures = [{"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"].startswith("fail")]
    return {"batchItemFailures": failures}
