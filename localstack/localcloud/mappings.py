"""Event source mappings (SQS, Kafka) and schedules, driving functions like the Lambda service does.

* SQS: receive up to BatchSize messages, invoke with Lambda's SQS event,
  delete what succeeded. With ReportBatchItemFailures only the reported
  records stay; any function error keeps the whole batch. Kept messages come
  back after the queue's visibility timeout and the emulator moves them to the
  dead-letter queue after ``maxReceiveCount`` receives.
* Kafka: one consumer per mapping (group id: the template's ConsumerGroupId,
  else a UUID stable per mapping), all partitions assigned, MSK (or
  self-managed) events, offsets committed only after a successful invocation;
  a failing batch is retried in place, in order, with capped backoff (up to
  MaximumRetryAttempts when the template sets it, then skipped).
* Schedules: ``rate(...)``, ``cron(...)`` (no ``L``/``W``/``#``) and ``at(...)``,
  invoking with the target's Input; ``interval_override`` fires every schedule
  every N seconds instead (tests).
"""

from __future__ import annotations

import abc
import base64
import json
import logging
import re
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from localcloud.provision import ACCOUNT_ID, LocalResources
from localcloud.template import EventSourceMapping, Schedule
from localcloud.workers import WorkerManager

log = logging.getLogger("localcloud.mappings")

SQS_ATTRIBUTES = ("ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp",
                  "SequenceNumber", "MessageGroupId", "MessageDeduplicationId", "AWSTraceHeader",
                  "DeadLetterQueueSourceArn")
MAX_BACKOFF_SECONDS = 30.0
DEFAULT_MSK_ARN = f"arn:aws:kafka:us-east-1:{ACCOUNT_ID}:cluster/localcloud/00000000-0000-0000-0000-000000000000-1"


@dataclass
class MappingStats:
    kind: str
    function: str
    source: str
    batches: int = 0
    records: int = 0
    failed_batches: int = 0
    failed_records: int = 0
    group_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class _Poller(threading.Thread):
    def __init__(self, mapping: EventSourceMapping, functions: WorkerManager, stats: MappingStats,
                 stopping: threading.Event) -> None:
        super().__init__(name=f"poller-{mapping.qid}", daemon=True)
        self.mapping = mapping
        self.functions = functions
        self.stats = stats
        self.stopping = stopping

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.poll_forever()
            except Exception:
                log.exception("%s: poller failed; restarting in 2 s", self.mapping.qid)
                self.stopping.wait(2)

    @abc.abstractmethod
    def poll_forever(self) -> None:
        """Poll the source and invoke the function until ``stopping`` is set (one implementation per source)."""


# --------------------------------------------------------------------------------------------- SQS


def sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    attributes = {k: str(v) for k, v in (message.get("Attributes") or {}).items() if k in SQS_ATTRIBUTES}
    message_attributes = {}
    for name, attr in (message.get("MessageAttributes") or {}).items():
        binary = attr.get("BinaryValue")
        message_attributes[name] = {
            "stringValue": attr.get("StringValue"),
            "binaryValue": base64.b64encode(binary).decode() if binary is not None else None,
            "stringListValues": list(attr.get("StringListValues") or []),
            "binaryListValues": [base64.b64encode(b).decode() for b in attr.get("BinaryListValues") or []],
            "dataType": attr.get("DataType"),
        }
    record = {
        "messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"], "body": message["Body"],
        "attributes": attributes, "messageAttributes": message_attributes, "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs", "eventSourceARN": queue_arn, "awsRegion": region,
    }
    if message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def failed_message_ids(result: Any, batch_ids: list[str]) -> set[str]:
    """The ids a partial batch response reports; a malformed one fails the whole batch (as Lambda does)."""
    if not isinstance(result, dict) or not result.get("batchItemFailures"):
        return set()
    failures = result["batchItemFailures"]
    ids = {f.get("itemIdentifier") for f in failures if isinstance(f, dict)} if isinstance(failures, list) else {None}
    if None in ids or "" in ids or not ids <= set(batch_ids):
        return set(batch_ids)
    return {str(i) for i in ids}


class SqsPoller(_Poller):
    def __init__(self, mapping: EventSourceMapping, functions: WorkerManager, resources: LocalResources,
                 stats: MappingStats, stopping: threading.Event) -> None:
        super().__init__(mapping, functions, stats, stopping)
        self.resources = resources

    def poll_forever(self) -> None:
        sqs = self.resources.client("sqs")
        assert self.mapping.queue is not None
        url, arn = self.resources.queue_url(self.mapping.queue), self.resources.queue_arn(self.mapping.queue)
        while not self.stopping.is_set():
            messages: list[dict[str, Any]] = []
            while len(messages) < self.mapping.batch_size and not self.stopping.is_set():
                received = sqs.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=min(10, self.mapping.batch_size - len(messages)),
                    WaitTimeSeconds=0 if messages else 1, AttributeNames=["All"], MessageAttributeNames=["All"],
                ).get("Messages", [])
                if not received:
                    break
                messages += received
            if messages:
                self._process(sqs, url, arn, messages)

    def _process(self, sqs: Any, url: str, arn: str, messages: list[dict[str, Any]]) -> None:
        event = {"Records": [sqs_record(m, arn, self.resources.region) for m in messages]}
        result = self.functions.invoke(self.mapping.function, event)
        ids = [m["MessageId"] for m in messages]
        if not result.ok:
            failed = set(ids)
        elif self.mapping.report_batch_item_failures:
            failed = failed_message_ids(result.payload, ids)
        else:
            failed = set()
        self.stats.batches += 1
        self.stats.records += len(messages)
        self.stats.failed_batches += 1 if failed else 0
        self.stats.failed_records += len(failed)
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                       for i, m in enumerate(done[start:start + 10])]
            sqs.delete_message_batch(QueueUrl=url, Entries=entries)
        if failed:
            log.info("%s: %d of %d record(s) failed; they return after the visibility timeout",
                     self.stats.function, len(failed), len(messages))


# --------------------------------------------------------------------------------------------- Kafka


def kafka_record(record: Any) -> dict[str, Any]:
    return {
        "topic": record.topic, "partition": record.partition, "offset": record.offset,
        "timestamp": record.timestamp,
        "timestampType": "LOG_APPEND_TIME" if record.timestamp_type == 1 else "CREATE_TIME",
        "key": base64.b64encode(record.key).decode() if record.key is not None else None,
        "value": base64.b64encode(record.value or b"").decode(),
        "headers": [{key: list(value or b"")} for key, value in record.headers or []],
    }


class KafkaPoller(_Poller):
    def __init__(self, mapping: EventSourceMapping, functions: WorkerManager, bootstrap: str,
                 event_source_arn: str | None, stats: MappingStats, stopping: threading.Event) -> None:
        super().__init__(mapping, functions, stats, stopping)
        self.bootstrap = bootstrap
        self.event_source_arn = event_source_arn or DEFAULT_MSK_ARN
        self.group_id = mapping.consumer_group_id or str(uuid.uuid5(uuid.NAMESPACE_URL, f"localcloud:{mapping.qid}"))
        stats.group_id = self.group_id

    def poll_forever(self) -> None:
        from kafka import KafkaConsumer, TopicPartition

        consumer = KafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=self.group_id, enable_auto_commit=False,
            auto_offset_reset="latest" if self.mapping.starting_position == "LATEST" else "earliest",
            client_id=f"localcloud-{self.stats.function}",
        )
        try:
            partitions: list[TopicPartition] = []
            for topic in self.mapping.topics:
                ids = consumer.partitions_for_topic(topic)
                while not ids and not self.stopping.wait(0.5):
                    ids = consumer.partitions_for_topic(topic)
                partitions += [TopicPartition(topic, p) for p in sorted(ids or [])]
            consumer.assign(partitions)
            while not self.stopping.is_set():
                polled = consumer.poll(timeout_ms=500, max_records=self.mapping.batch_size)
                if polled:
                    self._process(consumer, polled)
        finally:
            consumer.close(autocommit=False)

    def event(self, polled: dict[Any, list[Any]]) -> dict[str, Any]:
        event: dict[str, Any] = {
            "eventSource": "SelfManagedKafka" if self.mapping.self_managed else "aws:kafka",
            "bootstrapServers": self.bootstrap,
            "records": {f"{tp.topic}-{tp.partition}": [kafka_record(r) for r in records]
                        for tp, records in polled.items()},
        }
        if not self.mapping.self_managed:
            event["eventSourceArn"] = self.event_source_arn
        return event

    def _process(self, consumer: Any, polled: dict[Any, list[Any]]) -> None:
        from kafka.structs import OffsetAndMetadata

        event = self.event(polled)
        count = sum(len(r) for r in polled.values())
        attempt = 0
        while not self.stopping.is_set():
            result = self.functions.invoke(self.mapping.function, event)
            self.stats.batches += 1
            self.stats.records += count
            if result.ok:
                break
            self.stats.failed_batches += 1
            self.stats.failed_records += count
            attempt += 1
            limit = self.mapping.maximum_retry_attempts
            if limit is not None and attempt > limit:
                log.error("%s: batch failed %d time(s); skipped (MaximumRetryAttempts=%d)",
                          self.stats.function, attempt, limit)
                break
            backoff = min(MAX_BACKOFF_SECONDS, 0.5 * 2 ** (attempt - 1))
            log.warning("%s: batch failed (%s); retry %d in %.1f s", self.stats.function,
                        result.payload.get("errorMessage") if isinstance(result.payload, dict) else result.payload,
                        attempt, backoff)
            self.stopping.wait(backoff)
        else:
            return  # stopping: nothing committed, the batch is read again next time
        consumer.commit({tp: OffsetAndMetadata(records[-1].offset + 1, "", -1) for tp, records in polled.items()})


# --------------------------------------------------------------------------------------------- schedules

_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}
_MONTHS = {m: i + 1 for i, m in enumerate(
    ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"])}
_DAYS = {d: i + 1 for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}


def _cron_field(spec: str, low: int, high: int, names: dict[str, int] | None = None) -> set[int] | None:
    if spec in ("*", "?"):
        return None
    if re.search(r"[LW#]", spec.replace("WED", "")):
        raise ValueError(f"unsupported cron field {spec!r}")

    def value(text: str) -> int:
        return (names or {}).get(text.upper(), None) or int(text)

    values: set[int] = set()
    for part in spec.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if base in ("*", ""):
            start, end = low, high
        elif "-" in base:
            first, last = base.split("-", 1)
            start, end = value(first), value(last)
        else:
            start = value(base)
            end = high if step_text else start
        values.update(range(start, end + 1, step))
    return values


class Cron:
    """An EventBridge ``cron(minutes hours day-of-month month day-of-week year)`` expression."""

    def __init__(self, expression: str) -> None:
        fields = expression.split()
        if len(fields) != 6:
            raise ValueError(f"cron needs 6 fields: {expression!r}")
        self.minutes = _cron_field(fields[0], 0, 59)
        self.hours = _cron_field(fields[1], 0, 23)
        self.days = _cron_field(fields[2], 1, 31)
        self.months = _cron_field(fields[3], 1, 12, _MONTHS)
        self.weekdays = _cron_field(fields[4], 1, 7, _DAYS)
        self.years = _cron_field(fields[5], 1970, 2199)

    def _day_ok(self, t: datetime) -> bool:
        weekday = (t.weekday() + 1) % 7 + 1  # SUN=1 ... SAT=7
        if (self.months and t.month not in self.months) or (self.years and t.year not in self.years):
            return False
        if self.days is None and self.weekdays is None:
            return True
        return bool((self.days and t.day in self.days) or (self.weekdays and weekday in self.weekdays))

    def next_after(self, after: datetime) -> datetime | None:
        t = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = t + timedelta(days=366 * 5)
        while t < limit:
            if not self._day_ok(t):
                t = (t + timedelta(days=1)).replace(hour=0, minute=0)
            elif self.hours is not None and t.hour not in self.hours:
                t = (t + timedelta(hours=1)).replace(minute=0)
            elif self.minutes is not None and t.minute not in self.minutes:
                t += timedelta(minutes=1)
            else:
                return t
        return None


def next_fire(expression: str, after: datetime, timezone: str | None = None) -> datetime | None:
    """The first firing strictly after ``after`` (aware), None when the schedule is over."""
    match = re.fullmatch(r"(rate|cron|at)\((.*)\)", expression.strip())
    if not match:
        raise ValueError(f"unsupported schedule expression {expression!r}")
    kind, body = match.groups()
    zone = ZoneInfo(timezone) if timezone else UTC
    if kind == "rate":
        amount, unit = body.split()
        return after + timedelta(seconds=int(amount) * _UNITS[unit.lower()])
    if kind == "at":
        when = datetime.fromisoformat(body).replace(tzinfo=zone)
        return when if when > after else None
    found = Cron(body).next_after(after.astimezone(zone))
    return found.astimezone(UTC) if found else None


class Scheduler(threading.Thread):
    def __init__(self, schedules: list[Schedule], functions: WorkerManager, resources: LocalResources,
                 stopping: threading.Event, interval_override: float | None = None) -> None:
        super().__init__(name="localcloud-scheduler", daemon=True)
        self.functions = functions
        self.resources = resources
        self.stopping = stopping
        self.interval_override = interval_override
        self.fired: dict[str, int] = {}
        self.schedules: list[Schedule] = []
        now = datetime.now(UTC)
        self.next: dict[str, datetime | None] = {}
        for schedule in schedules:
            if not schedule.enabled:
                continue
            try:
                self.next[schedule.qid] = self._next(schedule, now)
            except (ValueError, KeyError) as exc:
                log.warning("schedule %s skipped: %s", schedule.qid, exc)
                continue
            self.schedules.append(schedule)
            self.fired[schedule.qid] = 0

    def _next(self, schedule: Schedule, after: datetime) -> datetime | None:
        if self.interval_override:
            return after + timedelta(seconds=self.interval_override)
        return next_fire(schedule.expression, after, schedule.timezone)

    def event(self, schedule: Schedule, when: datetime) -> Any:
        stack = schedule.qid.partition("/")[0]
        raw = self.resources.resolve(stack, schedule.input)
        if raw is not None:
            try:
                return json.loads(raw) if isinstance(raw, str) else raw
            except ValueError:
                return raw
        if schedule.kind == "rule":
            rule = schedule.qid.partition("/")[2].split("#", 1)[0]
            return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event",
                    "source": "aws.events", "account": ACCOUNT_ID, "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "region": self.resources.region,
                    "resources": [f"arn:aws:events:{self.resources.region}:{ACCOUNT_ID}:rule/{rule}"], "detail": {}}
        return {}

    def run(self) -> None:
        while not self.stopping.is_set():
            pending = {k: v for k, v in self.next.items() if v is not None}
            if not pending:
                return
            now = datetime.now(UTC)
            due = [s for s in self.schedules if (pending.get(s.qid) or now + timedelta(days=1)) <= now]
            for schedule in due:
                self.fired[schedule.qid] += 1
                event = self.event(schedule, now)
                threading.Thread(target=self._invoke, args=(schedule, event), daemon=True).start()
                self.next[schedule.qid] = self._next(schedule, now)
            soonest = min((v for v in self.next.values() if v is not None), default=now + timedelta(seconds=1))
            self.stopping.wait(max(0.05, min(1.0, (soonest - datetime.now(UTC)).total_seconds())))

    def _invoke(self, schedule: Schedule, event: Any) -> None:
        result = self.functions.invoke(schedule.function, event)
        if not result.ok:
            log.error("schedule %s: function failed: %s", schedule.qid, result.payload)
