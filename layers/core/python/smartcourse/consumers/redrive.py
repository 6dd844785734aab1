"""Redrive dead-lettered Kafka records: rebuild the original Lambda event and invoke the consumer again.

The consumers are idempotent by ``event_id``, so redriving a record that was
meanwhile applied (or redriving twice) changes nothing. A message is deleted
from the DLQ only after the consumer accepted the record again; a record that
fails again is dead-lettered again by the consumer, as a new message.

CLI (the consumer's function name from the catalogue, its consumer name from the DLQ messages)::

    python -m smartcourse.consumers.redrive --queue-url URL \\
        --consumer lms-course-processing --function lms-consume-course-processing [--max 100]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

REDRIVE_EVENT_SOURCE_ARN = "arn:aws:kafka:redrive"

# The rebuilt event -> did the consumer apply it (no function error, and not dead-lettered again).
Invoke = Callable[[dict[str, Any]], bool]


@dataclass
class RedriveResult:
    redriven: int = 0
    failed: int = 0
    skipped_other_consumer: int = 0
    skipped_unrecoverable: int = 0
    skipped_tried: int = 0  # already redriven in this run (a record dead-lettered again comes back as a copy)


def event_from_records(records: Iterable[Mapping[str, Any]], *,
                       event_source_arn: str = REDRIVE_EVENT_SOURCE_ARN) -> dict[str, Any]:
    """An MSK Lambda event holding ``records`` (as stored in DLQ messages), grouped and ordered like the original."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for record in sorted(records, key=lambda r: (str(r["topic"]), int(r["partition"]), int(r["offset"]))):
        raw = {k: v for k, v in record.items() if k != "value_truncated"}
        raw.setdefault("timestampType", "CREATE_TIME")
        raw.setdefault("headers", [])
        grouped.setdefault(f"{record['topic']}-{record['partition']}", []).append(raw)
    return {"eventSource": "aws:kafka", "eventSourceArn": event_source_arn, "bootstrapServers": "redrive",
            "records": grouped}


def recoverable(message: Mapping[str, Any]) -> bool:
    """False when the DLQ message lost the value (too big for SQS): re-read it from Kafka at its offset instead."""
    record = message.get("record") or {}
    return record.get("value") is not None and not record.get("value_truncated")


def redrive(sqs: Any, queue_url: str, consumer: str, invoke: Invoke, *,
            max_messages: int = 100) -> RedriveResult:
    """Redrive up to ``max_messages`` of ``consumer``'s DLQ messages, one record per invocation."""
    result = RedriveResult()
    seen = 0
    tried: set[tuple[Any, Any, Any]] = set()
    while seen < max_messages:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=min(10, max_messages - seen),
                                    WaitTimeSeconds=1, VisibilityTimeout=60).get("Messages", [])
        if not batch:
            break
        for message in batch:
            seen += 1
            body = json.loads(message["Body"])
            handle = message["ReceiptHandle"]
            # Skipped messages stay hidden for the visibility timeout (so this run does not meet them again),
            # then reappear for their owner.
            if body.get("consumer") != consumer:
                result.skipped_other_consumer += 1
                continue
            if not recoverable(body):
                result.skipped_unrecoverable += 1
                continue
            record = body["record"]
            where = (record.get("topic"), record.get("partition"), record.get("offset"))
            if where in tried:  # the consumer's fresh copy of a record that failed again in this run
                result.skipped_tried += 1
                continue
            tried.add(where)
            if invoke(event_from_records([record])):
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=handle)
                result.redriven += 1
            else:
                result.failed += 1
    return result


def lambda_invoker(function_name: str, client: Any = None) -> Invoke:
    """Invoke a deployed consumer synchronously; True when it returned without a function error."""
    if client is None:
        import boto3

        client = boto3.client("lambda")

    def invoke(event: dict[str, Any]) -> bool:
        response = client.invoke(FunctionName=function_name, InvocationType="RequestResponse",
                                 Payload=json.dumps(event).encode())
        if "FunctionError" in response:
            return False
        # A record that fails again is not an error of the invocation: the consumer dead-letters it anew and
        # returns normally. That is no redrive: keep the original message (and do not meet the copy again).
        return not _dead_lettered_again(response.get("Payload"))

    return invoke


def _dead_lettered_again(payload: Any) -> bool:
    raw = payload.read() if hasattr(payload, "read") else payload
    try:
        summary = json.loads(raw) if raw else {}
    except (TypeError, ValueError):
        return False
    return isinstance(summary, dict) and int(summary.get("dead_lettered") or 0) > 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--queue-url", required=True)
    parser.add_argument("--consumer", required=True, help="the consumer name in the DLQ messages")
    parser.add_argument("--function", required=True, help="the consumer's Lambda function name")
    parser.add_argument("--max", type=int, default=100, dest="max_messages")
    args = parser.parse_args(argv)

    import boto3

    result = redrive(boto3.client("sqs"), args.queue_url, args.consumer, lambda_invoker(args.function),
                     max_messages=args.max_messages)
    print(json.dumps(asdict(result)))
    return 1 if result.failed else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
