"""Event source mappings (SQS, Kafka/MSK) and schedules."""

from __future__ import annotations

import base64
import copy
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.parser.models import KafkaMskEventModel, SqsModel
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from localcloud.runner import LocalCloudRunner

from tests.runner_app.app import KAFKA_TOPIC, MSK_CLUSTER_ARN, SCHEDULE_INPUT
from tests.runner_app.testing import read_jsonl, wait_until

pytestmark = pytest.mark.integration


def test_sqs_partial_batch_failure(runner: LocalCloudRunner, runner_out: Path,
                                   runner_overrides: dict[str, str]) -> None:
    assert runner.model is not None and runner.resources is not None
    queue = next(q for q in runner.model.queues.values() if q.dead_letter_queue)
    assert queue.dead_letter_queue is not None
    url, dlq_url = runner.resources.queue_url(queue.qid), runner.resources.queue_url(queue.dead_letter_queue)
    sqs = boto3.client("sqs", endpoint_url=runner_overrides["AWS_ENDPOINT_URL"], region_name="us-east-1")
    tag = uuid.uuid4().hex[:8]
    bodies = [f"ok-{tag}-1", f"fail-{tag}", f"ok-{tag}-2"]
    sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": str(i), "MessageBody": body,
         "MessageAttributes": {"kind": {"DataType": "String", "StringValue": "test"}}}
        for i, body in enumerate(bodies)])

    def in_dlq() -> list[Any]:
        messages = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                       VisibilityTimeout=0).get("Messages", [])
        return [m for m in messages if tag in m["Body"]]

    dead = wait_until(in_dlq, 60, 0.2, "the failing message in the DLQ")
    assert [m["Body"] for m in dead] == [f"fail-{tag}"]
    deliveries = [r for e in read_jsonl(runner_out, "sqs_events") for r in e["Records"] if tag in r["body"]]
    counts = {body: sum(r["body"] == body for r in deliveries) for body in bodies}
    assert counts == {f"ok-{tag}-1": 1, f"fail-{tag}": 2, f"ok-{tag}-2": 1}  # maxReceiveCount is 2
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0"
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
    for event in read_jsonl(runner_out, "sqs_events"):
        SqsModel.model_validate(event)
    record = deliveries[0]
    assert record["eventSource"] == "aws:sqs" and record["eventSourceARN"] == runner.resources.queue_arn(queue.qid)
    assert record["messageAttributes"]["kind"]["stringValue"] == "test"
    assert {r["attributes"]["ApproximateReceiveCount"] for r in deliveries if r["body"].startswith("fail")} == {
        "1", "2"}


def test_kafka_records_in_order_retried_and_committed(runner: LocalCloudRunner, runner_out: Path,
                                                      runner_overrides: dict[str, str]) -> None:
    bootstrap = runner_overrides["KAFKA_BOOTSTRAP_SERVERS"]
    tag = uuid.uuid4().hex[:8]
    values = [f"{tag}-{i}" for i in range(5)] + ["boom-once"] + [f"{tag}-{i}" for i in range(5, 10)]
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    sent = [producer.send(KAFKA_TOPIC, key=tag.encode(), value=v.encode(), headers=[("origin", b"test")]).get(10)
            for v in values]
    producer.close()
    partition = sent[0].partition

    def delivered() -> list[str]:
        got = [r["value"] for r in read_jsonl(runner_out, "kafka_records") if r["partition"] == partition]
        return got if values[-1] in got else []

    wait_until(delivered, 40, 0.2, "all Kafka records")
    ours = [r for r in read_jsonl(runner_out, "kafka_records") if r["value"] in values]
    # The failing batch is retried whole: some records arrive twice, but the last delivery has them all in order.
    last = {r["value"]: r["offset"] for r in ours}
    assert [v for v, _ in sorted(last.items(), key=lambda kv: kv[1])] == values
    assert all(r["partition"] == partition for r in ours)
    stats = runner.stats()["mappings"]
    mapping = next(s for s in stats.values() if s["kind"] == "kafka")
    assert mapping["failed_batches"] >= 1

    events = read_jsonl(runner_out, "kafka_events")
    for event in events:
        KafkaMskEventModel.model_validate(copy.deepcopy(event))  # the model decodes headers in place
        assert event["eventSourceArn"] == MSK_CLUSTER_ARN and event["bootstrapServers"] == bootstrap
        for records in event["records"].values():
            offsets = [r["offset"] for r in records]
            assert offsets == sorted(offsets)
    record = next(r for e in events for rs in e["records"].values() for r in rs
                  if base64.b64decode(r["value"]).decode() == values[0])
    assert record["headers"] == [{"origin": list(b"test")}] and record["timestampType"] == "CREATE_TIME"
    assert base64.b64decode(record["key"]).decode() == tag

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=mapping["group_id"], enable_auto_commit=False)
    try:
        tp = TopicPartition(KAFKA_TOPIC, partition)
        wait_until(lambda: consumer.committed(tp) == sent[-1].offset + 1, 10, 0.2, "the committed offset")
    finally:
        consumer.close()


def test_schedule_fires_with_the_target_input(runner: LocalCloudRunner, runner_out: Path) -> None:
    events = wait_until(lambda: [e for e in read_jsonl(runner_out, "scheduled_events")][-2:]
                        if len(read_jsonl(runner_out, "scheduled_events")) >= 2 else None, 15,
                        what="two scheduled invocations")
    assert events == [SCHEDULE_INPUT, SCHEDULE_INPUT]
    assert sum(runner.stats()["schedules"].values()) >= 2
