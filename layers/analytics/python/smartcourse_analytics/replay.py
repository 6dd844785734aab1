"""Rebuild the analytics read models from the event archive (the ``analytics-replay`` function, ``make replay``).

One transaction, so that readers see the old figures until the rebuilt ones commit, and a replay that fails or
times out changes nothing:

1. lock the read models (``tables.READ_MODELS``) and ``processed_events`` against writes (SHARE ROW EXCLUSIVE:
   reads go on, the live consumer and the nudge route wait; a consumer batch that times out waiting is
   delivered again afterwards and skips what the replay applied);
2. empty them, and forget the consumer's claims (``processed_events`` of ``analytics-events``). DELETE, not
   TRUNCATE: TRUNCATE would block every reader for the whole replay, and the service's role may not truncate;
3. read the archive day by day, topic by topic, each day's objects of a topic merged by ``occurred_at``, and
   feed the events in batches to :func:`smartcourse_analytics.ingest.ingest`, the consumer's own code (which
   claims them again, so an event archived twice is applied once; an event whose effect fails is left out,
   as the consumer dead-letters it).

The service's own state stays: reports, the outbox and the archive's ledger. Nudges come back from their
``learner.nudge_requested`` events.

Refuses an empty archive unless forced: a rebuild from nothing would leave nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from smartcourse.observability import logger
from smartcourse_events.envelope import EventEnvelope
from smartcourse_events.registry import UnknownEventType, parse_event
from sqlalchemy import Connection, Engine, delete, exists, func, select, text
from sqlalchemy.exc import InterfaceError, OperationalError

from smartcourse_analytics.archive import Partition, merge_by_time, replay_partitions
from smartcourse_analytics.catalogue import CONSUMED_EVENT_TYPES
from smartcourse_analytics.ingest import CONSUMER_NAME, ingest
from smartcourse_analytics.tables import READ_MODELS, archived_events, processed_events

# Large on purpose: the rebuild is one transaction, in which no row version it writes can be pruned, so every
# update of a roll-up row lengthens the chain the next one walks; folding 20,000 events at a time writes each
# row ten times less often than the consumer's batches would (measured: 2.3x the events per second at 300,000).
DEFAULT_BATCH_SIZE = 20_000
# Objects downloading at once, and how far ahead of the one being read (S3 GETs are latency-bound).
DOWNLOAD_THREADS = 16
DOWNLOAD_AHEAD = 64
# How long the replay waits for in-flight writers before it gives up (then nothing happened).
LOCK_TIMEOUT = "60s"

_CONSUMED = frozenset(CONSUMED_EVENT_TYPES)
# The merge key of a line without a readable time: first, to be counted and skipped at once.
_NO_TIME = datetime.min.replace(tzinfo=UTC)
# "The database is not there", not "this event is bad": these fail the replay.
_INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (OperationalError, InterfaceError)

Ingest = Callable[[Connection, Sequence[EventEnvelope]], int]


class ArchiveReader(Protocol):
    def keys(self) -> Iterable[str]: ...

    def read(self, key: str) -> bytes: ...


class ArchiveEmpty(RuntimeError):
    """The archive holds no event objects: replaying it would empty the read models."""


class ArchiveBehind(ArchiveEmpty):
    """The read models hold events the archive does not have yet (the archiver lags or dead-lettered them):
    replaying now would lose them, their Kafka offsets being committed already."""


@dataclass
class ReplayReport:
    objects: int = 0
    events: int = 0  # archived events read
    applied: int = 0  # events the read models took
    skipped: int = 0  # events - applied: the five kinds below
    not_consumed: int = 0  # a type the read models are not built from (report.ready, or one no contract knows)
    unknown_types: int = 0  # a consumed type in a version this code has no contract for
    invalid: int = 0  # a known type whose payload does not validate (the live consumer dead-letters those)
    duplicates: int = 0  # archived more than once, or claimed again
    failed: int = 0  # valid by its contract, but its effect failed (the live consumer dead-letters those)
    elapsed_seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def replay(engine: Engine, archive: ArchiveReader, *, force: bool = False,
           batch_size: int = DEFAULT_BATCH_SIZE, apply: Ingest = ingest) -> ReplayReport:
    """Empty the read models and rebuild them from ``archive``; what was read and applied, and how long it took."""
    started = time.monotonic()
    report = ReplayReport()
    partitions = replay_partitions(archive.keys())
    if not partitions and not force:
        raise ArchiveEmpty("the event archive is empty: a replay would leave the analytics read models empty "
                           "(force it to do so anyway)")
    logger.info("replay started", extra={"partitions": len(partitions),
                                         "objects": sum(len(p.keys) for p in partitions)})
    # S3 downloads run ahead in threads; decompressing and parsing stay on this thread (a reader thread of its
    # own was measured slower: it competes with the database calls for the GIL).
    events = _envelopes(_archived_lines(archive, partitions, report), report)
    with engine.begin() as conn:
        _lock_and_empty(conn, force=force)
        for batch in _batches(events, batch_size):
            _apply_batch(conn, batch, apply, report)
    report.skipped = report.events - report.applied
    report.elapsed_seconds = round(time.monotonic() - started, 3)
    logger.info("replay done", extra=report.as_dict())
    return report


def _lock_and_empty(conn: Connection, *, force: bool) -> None:
    # processed_events first: the live consumer claims an event there before it writes the read models, so a
    # replay that took it last held the read models while the consumer held its claim — each waiting on the other.
    names = ", ".join(table.name for table in (processed_events, *READ_MODELS))
    conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
    conn.execute(text(f"LOCK TABLE {names} IN SHARE ROW EXCLUSIVE MODE"))
    conn.execute(text("SET LOCAL lock_timeout TO DEFAULT"))
    # Under the lock no event can be applied meanwhile: every one applied must be in the archive's ledger.
    p = processed_events.c
    behind = conn.execute(select(func.count()).select_from(processed_events).where(
        p.consumer == CONSUMER_NAME, ~exists().where(archived_events.c.event_id == p.event_id))).scalar_one()
    if behind and not force:
        raise ArchiveBehind(f"{behind} applied event(s) are not in the archive yet (the archiver lags, or "
                            "dead-lettered them): a replay now would lose them (force it to do so anyway)")
    for table in READ_MODELS:
        conn.execute(delete(table))
    conn.execute(delete(processed_events).where(processed_events.c.consumer == CONSUMER_NAME))


def _apply_batch(conn: Connection, batch: list[EventEnvelope], apply: Ingest, report: ReplayReport) -> None:
    """The batch in a savepoint; should it fail, event by event, so that only a bad event is left out.

    The live consumer dead-letters an event its effect cannot write (valid by the contract, refused by the
    database); the replay skips it likewise instead of failing the whole rebuild. A database that is not
    there fails the replay (nothing changes).
    """
    try:
        with conn.begin_nested():
            applied = apply(conn, batch)
    except _INFRASTRUCTURE_ERRORS:
        raise
    except Exception as exc:
        logger.warning("replay batch failed: applying it event by event", extra={
            "events": len(batch), "error_type": type(exc).__name__})
    else:
        report.applied += applied
        report.duplicates += len(batch) - applied
        return
    for envelope in batch:
        try:
            with conn.begin_nested():
                applied = apply(conn, [envelope])
        except _INFRASTRUCTURE_ERRORS:
            raise
        except Exception as exc:
            report.failed += 1
            logger.warning("archived event not applied", extra={
                "event_id": str(envelope.event_id), "event_type": envelope.event_type,
                "error_type": type(exc).__name__})
            continue
        report.applied += applied
        report.duplicates += 1 - applied


@dataclass(frozen=True, slots=True)
class _Read:
    """One archived line as the replay sees it: its time (the merge key), and the envelope or why it is skipped."""

    occurred_at: datetime
    envelope: EventEnvelope | None
    skipped: str | None = None  # a ReplayReport counter


def _read_line(line: bytes) -> _Read:
    try:
        envelope, _payload = parse_event(line)
    except UnknownEventType as exc:
        known = exc.envelope
        if known is None:
            return _Read(_NO_TIME, None, "invalid")
        return _Read(known.occurred_at, None, "unknown_types" if known.event_type in _CONSUMED else "not_consumed")
    except ValueError:  # not JSON, not an envelope, or a payload its contract refuses
        event_type = _event_type(line)
        return _Read(_NO_TIME, None, "invalid" if event_type is None or event_type in _CONSUMED else "not_consumed")
    if envelope.event_type not in _CONSUMED:
        return _Read(envelope.occurred_at, None, "not_consumed")
    return _Read(envelope.occurred_at, envelope)


def _event_type(line: bytes) -> Any:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value.get("event_type") if isinstance(value, dict) else None


def _archived_lines(archive: ArchiveReader, partitions: Sequence[Partition], report: ReplayReport) -> Iterator[_Read]:
    """Every archived line, read, partition by partition, with the next objects downloading meanwhile."""
    keys = [key for partition in partitions for key in partition.keys]
    with ThreadPoolExecutor(DOWNLOAD_THREADS, thread_name_prefix="replay-download") as pool:
        downloads: dict[str, Future[bytes]] = {}
        submitted = 0
        for partition in partitions:
            # Up to DOWNLOAD_AHEAD objects past this partition are on their way (a bounded amount of memory).
            wanted = min(len(keys), report.objects + len(partition.keys) + DOWNLOAD_AHEAD)
            for key in keys[submitted:wanted]:
                downloads[key] = pool.submit(archive.read, key)
            submitted = max(submitted, wanted)
            bodies = [downloads.pop(key).result() for key in partition.keys]
            report.objects += len(bodies)
            yield from merge_by_time(bodies, _read_line, _when)
            logger.debug("replay partition read", extra={"day": partition.day.isoformat(), "topic": partition.topic,
                                                         "objects": report.objects, "events": report.events})


def _when(read: _Read) -> datetime:
    return read.occurred_at


def _envelopes(lines: Iterable[_Read], report: ReplayReport) -> Iterator[EventEnvelope]:
    for read in lines:
        report.events += 1
        if read.envelope is not None:
            yield read.envelope
        else:
            assert read.skipped is not None
            setattr(report, read.skipped, getattr(report, read.skipped) + 1)
            if read.skipped == "invalid":
                logger.warning("invalid archived event skipped")


def _batches(envelopes: Iterable[EventEnvelope], size: int) -> Iterator[list[EventEnvelope]]:
    batch: list[EventEnvelope] = []
    for envelope in envelopes:
        batch.append(envelope)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


if __name__ == "__main__":  # python -m smartcourse_analytics.replay: the command line (replay_cli)
    import sys

    from smartcourse_analytics.replay_cli import main

    sys.exit(main())
