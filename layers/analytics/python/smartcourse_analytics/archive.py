"""The event archive's layout and file format (no I/O): records in, ``(object key, gzip JSON Lines)`` out.

Layout (events.md, "Archive")::

    events/topic=<topic>/date=<yyyy-mm-dd>/<name>.jsonl.gz

``date`` is the UTC date of the envelope's ``occurred_at`` (not of the Kafka record), so an event lands in
the same partition whenever and however often it is delivered. The ``key=value`` folder names are Hive-style
partitions: a query engine (Athena with partition projection) prunes on ``topic`` and ``date``.

Each object holds the events of one topic and day from one consumer batch, one JSON envelope per line (the
record's value as the topic carried it, unknown envelope fields and unknown event types included), sorted by
``occurred_at``. Its ``<name>`` is derived from the event ids of that topic and day in the batch, so a batch
delivered again after a crash between the upload and the ledger's commit rewrites the very same objects
(byte for byte: the gzip header carries no time) instead of adding copies.
"""

from __future__ import annotations

import gzip
import hashlib
import heapq
import io
import json
import re
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from smartcourse_events.envelope import EventEnvelope

PREFIX = "events/"
SUFFIX = ".jsonl.gz"
CONTENT_TYPE = "application/gzip"
# Kafka's own rule for topic names: also what keeps a topic from breaking out of its key segment.
_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_KEY = re.compile(r"^events/topic=(?P<topic>[A-Za-z0-9._-]{1,249})/date=(?P<day>\d{4}-\d{2}-\d{2})/"
                  r"(?P<name>[^/]+)\.jsonl\.gz$")
# Enough of a SHA-256 that two different sets of event ids never share a name in practice.
_NAME_HEX_DIGITS = 32

T = TypeVar("T")


class NotAnEnvelope(ValueError):
    """A record value the archive refuses: not a JSON object carrying a valid event envelope."""


@dataclass(frozen=True)
class ArchivedEvent:
    """One event as the archive keeps it: where it goes, and its line (compact JSON, no newline)."""

    event_id: uuid.UUID
    topic: str
    occurred_at: datetime
    line: bytes

    @property
    def day(self) -> date:
        return self.occurred_at.astimezone(UTC).date()


@dataclass(frozen=True)
class ArchiveObject:
    """The events of one topic and day of one batch, and the key they are stored under."""

    key: str
    topic: str
    day: date
    events: tuple[ArchivedEvent, ...]

    def only(self, event_ids: Collection[uuid.UUID]) -> ArchiveObject:
        """The same object (same key) holding only ``event_ids`` (the ones the ledger did not have yet)."""
        return replace(self, events=tuple(e for e in self.events if e.event_id in event_ids))

    def body(self) -> bytes:
        return encode_lines(e.line for e in self.events)


def archived_event(topic: str, value: Any) -> ArchivedEvent:
    """``value`` (a record's decoded JSON) as an archived event of ``topic``; :class:`NotAnEnvelope` if invalid.

    Only the envelope is checked: the archive takes whatever the topic carries, so an event type no service
    knows (yet) is archived like any other.
    """
    if not _TOPIC.match(topic or ""):
        raise NotAnEnvelope(f"not a Kafka topic name: {topic!r}")
    if not isinstance(value, Mapping):
        raise NotAnEnvelope(f"the value is a JSON {type(value).__name__}, not an object")
    try:
        envelope = EventEnvelope.model_validate(value)
    except ValueError as exc:  # pydantic's ValidationError
        raise NotAnEnvelope(f"not an event envelope: {exc}") from exc
    line = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    return ArchivedEvent(event_id=envelope.event_id, topic=topic, occurred_at=envelope.occurred_at, line=line)


def partition_prefix(topic: str, day: date) -> str:
    return f"{PREFIX}topic={topic}/date={day.isoformat()}/"


def object_key(topic: str, day: date, event_ids: Iterable[uuid.UUID]) -> str:
    """The key of the object holding ``event_ids`` of ``topic`` and ``day``: named by the ids, in any order."""
    digest = hashlib.sha256("\n".join(sorted(str(i) for i in event_ids)).encode()).hexdigest()
    return f"{partition_prefix(topic, day)}{digest[:_NAME_HEX_DIGITS]}{SUFFIX}"


def plan_objects(events: Iterable[ArchivedEvent]) -> list[ArchiveObject]:
    """The batch's events as objects, one per (topic, day); an event id seen twice counts once (the first)."""
    first: dict[uuid.UUID, ArchivedEvent] = {}
    for event in events:
        first.setdefault(event.event_id, event)
    groups: dict[tuple[str, date], list[ArchivedEvent]] = {}
    for event in first.values():
        groups.setdefault((event.topic, event.day), []).append(event)
    return [
        ArchiveObject(key=object_key(topic, day, (e.event_id for e in group)), topic=topic, day=day,
                      # Stable: equal times keep the order the partition delivered them in.
                      events=tuple(sorted(group, key=lambda e: e.occurred_at)))
        for (topic, day), group in sorted(groups.items())
    ]


def encode_lines(lines: Iterable[bytes]) -> bytes:
    """Gzip-compressed JSON Lines; ``mtime=0`` so that the same lines always give the same bytes."""
    return gzip.compress(b"".join(line + b"\n" for line in lines), compresslevel=6, mtime=0)


def decode_lines(body: bytes) -> Iterator[dict[str, Any]]:
    """The JSON objects of a gzip JSON Lines body (blank lines ignored)."""
    for line in gzip.decompress(body).splitlines():
        if line.strip():
            yield json.loads(line)


@dataclass(frozen=True)
class KeyParts:
    topic: str
    day: date
    name: str


def parse_key(key: str) -> KeyParts | None:
    """Topic, day and name of an archive object's key; ``None`` for any other key (left alone by a replay)."""
    match = _KEY.match(key)
    if match is None:
        return None
    try:
        day = date.fromisoformat(match["day"])
    except ValueError:
        return None
    return KeyParts(topic=match["topic"], day=day, name=match["name"])


@dataclass(frozen=True)
class Partition:
    """The objects of one topic and day, read together by a replay."""

    day: date
    topic: str
    keys: tuple[str, ...]


def replay_partitions(keys: Iterable[str]) -> list[Partition]:
    """The archive's objects grouped by (day, topic), in the order a replay reads them: by day, then topic.

    S3 lists by key, i.e. by topic first; days first keeps a rebuild's intermediate states sane (a course
    before most of its enrollments, an enrollment before most of its progress). Keys that are not archive
    objects are left out.
    """
    groups: dict[tuple[date, str], list[str]] = {}
    for key in keys:
        if (parts := parse_key(key)) is not None:
            groups.setdefault((parts.day, parts.topic), []).append(key)
    return [Partition(day=day, topic=topic, keys=tuple(sorted(group)))
            for (day, topic), group in sorted(groups.items())]


def body_lines(body: bytes) -> Iterator[bytes]:
    """The non-blank lines of a gzip JSON Lines body, decompressed as they are read."""
    with gzip.GzipFile(fileobj=io.BytesIO(body)) as lines:
        for line in lines:
            if line.strip():
                yield line


def merge_by_time(bodies: Sequence[bytes], read: Callable[[bytes], T], when: Callable[[T], datetime]) -> Iterator[T]:
    """The lines of several objects, each ``read``, as one stream in ``when`` order (each object is sorted).

    Lazy: only the compressed bodies are in memory, not a whole day of decoded events. Equal times keep the
    objects' order and each object's line order (the partition order the archiver received them in).
    """
    return heapq.merge(*(map(read, body_lines(body)) for body in bodies), key=when)
