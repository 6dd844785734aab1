"""The local stand-ins really serve their protocols."""

from __future__ import annotations

import uuid

import boto3
import psycopg
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

pytestmark = pytest.mark.integration


def test_postgres_serves_sql_with_pgvector(postgres):
    url = postgres.database_url("services_check").replace("+psycopg", "")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        assert conn.execute("SELECT '[1,2]'::vector <-> '[1,3]'::vector").fetchone() == (1.0,)


def test_kafka_round_trip_with_acks_all(kafka):
    topic = f"check-{uuid.uuid4().hex[:8]}"
    kafka.create_topics([topic], partitions=1)
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all")
    producer.send(topic, key=b"k", value=b"hello").get(timeout=10)
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=kafka.bootstrap, enable_auto_commit=False)
    consumer.assign([TopicPartition(topic, 0)])
    consumer.seek_to_beginning()
    records = [r for batch in consumer.poll(5000).values() for r in batch]
    consumer.close()
    assert [(r.key, r.value) for r in records] == [(b"k", b"hello")]


def test_emulator_serves_sqs_and_secrets(moto):
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="services-check")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="x")
    assert sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "x"
    sm = boto3.client("secretsmanager")
    arn = sm.create_secret(Name="services-check", SecretString="s3cr3t")["ARN"]
    assert sm.get_secret_value(SecretId=arn)["SecretString"] == "s3cr3t"


def test_postgres_restart_keeps_data(postgres):
    url = postgres.database_url("restart_check").replace("+psycopg", "")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS t (v int)")
        conn.execute("INSERT INTO t VALUES (42)")
    postgres.restart()
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT v FROM t").fetchall() == [(42,)]


def test_event_topics_are_created_with_partitions_and_idempotently(kafka):
    from localcloud.cloud import create_event_topics
    from smartcourse_events.topics import ALL_TOPICS

    assert create_event_topics(kafka) == list(ALL_TOPICS)
    create_event_topics(kafka)  # a restart: the topics exist already
    consumer = KafkaConsumer(bootstrap_servers=kafka.bootstrap)
    try:
        assert {topic: consumer.partitions_for_topic(topic) for topic in ALL_TOPICS} == {
            topic: {0, 1, 2} for topic in ALL_TOPICS}
    finally:
        consumer.close()
