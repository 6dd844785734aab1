"""Kafka consumer of every topic: archives each event once to S3 as gzip JSON Lines by topic and day.

Not an ``EventConsumer`` (that one applies effects per event type): this one takes whatever the topics carry.
Per batch: records that are not a JSON event envelope go to the dead-letter queue; the others are claimed in
the ``archived_events`` ledger and the new ones uploaded, one object per (topic, day), in one transaction.
An S3 or database outage fails the whole batch, which the event source mapping delivers again.
"""

from typing import Any

from aws_lambda_powertools.utilities.kafka import ConsumerRecords, SchemaConfig, kafka_consumer
from smartcourse.consumers.dlq import dead_letter_message, send_dead_letter
from smartcourse.db.engine import get_engine
from smartcourse.observability import logger, observed
from smartcourse.settings import get_settings
from smartcourse_analytics.archive import ArchivedEvent, archived_event, plan_objects
from smartcourse_analytics.archive_store import BatchArchived, S3Archive, archive_batch
from smartcourse_analytics.catalogue import function

FUNCTION = function("analytics-archive-events")
CONSUMER_NAME = "analytics-archive"  # the ``consumer`` of its dead-letter messages


def _where(raw: Any) -> dict[str, Any]:
    return {"topic": raw.get("topic"), "partition": raw.get("partition"), "offset": raw.get("offset")}


def process(records: ConsumerRecords) -> dict[str, int]:
    settings = get_settings()
    if not settings.archive_bucket:
        raise RuntimeError("ARCHIVE_BUCKET is not set")
    events: list[ArchivedEvent] = []
    poison: list[tuple[Any, Exception]] = []
    for record in records.records:
        try:
            events.append(archived_event(record.topic, record.value))
        except Exception as exc:  # undecodable, or not an envelope: no retry can help
            poison.append((record.raw_event, exc))
    objects = plan_objects(events)
    done = BatchArchived(events=0, duplicates=0, objects=0)
    if objects:
        with get_engine().begin() as conn:
            done = archive_batch(conn, S3Archive(settings.archive_bucket), objects)
    # After the commit: a dead-letter queue that cannot be reached fails the batch, and its redelivery finds
    # the good records archived already.
    for raw, error in poison:
        logger.warning("poison record", extra={"consumer": CONSUMER_NAME, "error_type": type(error).__name__,
                                               **_where(raw)})
        send_dead_letter(settings.consumer_dlq_url, dead_letter_message(CONSUMER_NAME, raw, error, attempts=1))
    summary = {"records": len(events) + len(poison), "archived": done.events, "duplicates": done.duplicates,
               "objects": done.objects, "dead_lettered": len(poison)}
    logger.info("archive batch done", extra=summary)
    return summary


@kafka_consumer(schema_config=SchemaConfig(value_schema_type="JSON"))
def _handler(records: ConsumerRecords, context: Any) -> dict[str, int]:
    return process(records)


handler = observed(_handler)
