"""The event archive's adapters: the S3 bucket holding the objects, and the ledger of archived event ids.

The ledger (``archived_events``) is what makes the archive hold each event once: a batch claims its event ids
in one statement and writes only the ones no earlier batch claimed (see :func:`archive_batch`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from smartcourse.aws_clients import aws_client
from sqlalchemy import Connection, String, Uuid, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY, insert

from smartcourse_analytics.archive import CONTENT_TYPE, PREFIX, ArchiveObject
from smartcourse_analytics.tables import archived_events

CONNECT_TIMEOUT_SECONDS = 5
READ_TIMEOUT_SECONDS = 30
MAX_PARALLEL_PUTS = 8


def s3_client() -> Any:
    return aws_client("s3", attempts=3, connect_timeout=CONNECT_TIMEOUT_SECONDS, read_timeout=READ_TIMEOUT_SECONDS)


@dataclass(frozen=True)
class S3Archive:
    """The archive bucket (``events/`` in it); the client defaults to the process's S3 client."""

    bucket: str
    client: Any = None

    def _s3(self) -> Any:
        return self.client if self.client is not None else s3_client()

    def put(self, obj: ArchiveObject) -> None:
        # Encryption is the bucket's default; a rewrite of the same key carries the same bytes.
        self._s3().put_object(Bucket=self.bucket, Key=obj.key, Body=obj.body(), ContentType=CONTENT_TYPE)

    def keys(self, prefix: str = PREFIX) -> Iterator[str]:
        """Every key under ``prefix``, page by page (in S3's key order)."""
        for page in self._s3().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", ()):
                yield str(item["Key"])

    def is_empty(self, prefix: str = PREFIX) -> bool:
        page = self._s3().list_objects_v2(Bucket=self.bucket, Prefix=prefix, MaxKeys=1)
        return not page.get("Contents")

    def read(self, key: str) -> bytes:
        body = self._s3().get_object(Bucket=self.bucket, Key=key)["Body"]
        try:
            return bytes(body.read())
        finally:
            body.close()


def claim_events(conn: Connection, objects: Sequence[ArchiveObject]) -> set[uuid.UUID]:
    """Record the objects' event ids in the ledger; the ids no earlier batch recorded (one statement).

    Runs in the caller's transaction: a concurrent batch holding the same id waits for it, then skips it.
    """
    # In id order: two batches claiming some of the same ids wait for each other instead of deadlocking.
    pairs = sorted((e.event_id, obj.key) for obj in objects for e in obj.events)
    if not pairs:
        return set()
    ids, keys = [i for i, _ in pairs], [k for _, k in pairs]
    rows = func.unnest(bindparam("ids", type_=ARRAY(Uuid())), bindparam("keys", type_=ARRAY(String()))) \
        .table_valued("event_id", "object_key").render_derived()
    claim = (
        insert(archived_events)
        .from_select(["event_id", "object_key"], select(rows.c.event_id, rows.c.object_key))
        .on_conflict_do_nothing()
        .returning(archived_events.c.event_id)
    )
    return set(conn.execute(claim, {"ids": ids, "keys": keys}).scalars())


@dataclass(frozen=True)
class BatchArchived:
    events: int  # new events written
    duplicates: int  # events the ledger already had
    objects: int  # objects written


def archive_batch(conn: Connection, archive: S3Archive, objects: Sequence[ArchiveObject]) -> BatchArchived:
    """Claim the objects' events, then upload each object with its new events only (inside the transaction).

    The caller commits after this returns: an upload failure rolls the claims back (the batch is delivered
    again), and a crash after an upload but before the commit leaves an object the redelivered batch rewrites
    under the same key.
    """
    new = claim_events(conn, objects)
    written = [obj.only(new) for obj in objects]
    written = [obj for obj in written if obj.events]
    if len(written) > 1:  # a batch spanning topics or days: its uploads in parallel (S3 latency adds up)
        with ThreadPoolExecutor(min(len(written), MAX_PARALLEL_PUTS)) as pool:
            list(pool.map(archive.put, written))  # list(): the first failure is raised here
    elif written:
        archive.put(written[0])
    total = sum(len(obj.events) for obj in objects)
    return BatchArchived(events=len(new), duplicates=total - len(new), objects=len(written))
