"""The outbox publisher's rules, free of I/O: retry backoff, parking, and what a batch's outcome means per row."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final, Literal


class OutboxStatus(StrEnum):
    """An outbox row's life: waiting (or backing off), sent, or parked after its last attempt."""

    PENDING = "pending"
    PUBLISHED = "published"
    FAILED = "failed"


PENDING: Final = OutboxStatus.PENDING
FAILED: Final = OutboxStatus.FAILED
PUBLISHED: Final = OutboxStatus.PUBLISHED

# last_error is for a person reading the table: long broker tracebacks are cut.
MAX_ERROR_CHARS = 1000
# While the broker is unreachable, rows are tried again at least this often (once it is back, within this).
BROKER_DOWN_MAX_DELAY_SECONDS = 30.0


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff: ``base * 2**attempts`` seconds after the attempts-th failure, capped, with jitter.

    Jitter (a fraction of the delay, added at random) spreads retries of rows that failed together.
    """

    base_seconds: float = 1.0
    cap_seconds: float = 15 * 60.0
    jitter: float = 0.1

    def delay(self, attempts: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt (attempts ≥ 1)."""
        exponent = min(max(attempts, 0), 32)  # 2**32 s is far past any cap; keeps the float finite
        delay = min(self.cap_seconds, self.base_seconds * (2.0 ** exponent))
        return delay + delay * self.jitter * rand()


@dataclass(frozen=True)
class FailureOutcome:
    attempts: int
    status: Literal[OutboxStatus.PENDING, OutboxStatus.FAILED]
    delay_seconds: float
    error: str


def on_failure(attempts_before: int, max_attempts: int, error: BaseException | str, backoff: Backoff,
               rand: Callable[[], float] = random.random) -> FailureOutcome:
    """A failed attempt: count it; park the row as failed once ``max_attempts`` attempts have failed."""
    attempts = attempts_before + 1
    status: Literal[OutboxStatus.PENDING, OutboxStatus.FAILED] = FAILED if attempts >= max_attempts else PENDING
    return FailureOutcome(attempts, status, backoff.delay(attempts, rand), describe(error))


def on_broker_down(attempts: int, error: BaseException | str, backoff: Backoff,
                   rand: Callable[[], float] = random.random) -> FailureOutcome:
    """The broker did not answer at all: not the row's fault, so not counted toward parking.

    Counting it would park a whole backlog after an outage of a quarter of an hour, and a parked row no longer
    holds back its aggregate: the later events would overtake it once the broker is back. The row waits a
    short, capped delay instead and goes out, in order, when the broker returns.
    """
    delay = min(BROKER_DOWN_MAX_DELAY_SECONDS, backoff.delay(attempts + 1, rand))
    return FailureOutcome(attempts, PENDING, delay, describe(error))


def describe(error: BaseException | str) -> str:
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    return text[:MAX_ERROR_CHARS]


@dataclass(frozen=True)
class Settlement:
    """What to write back for a claimed batch."""

    published: list[int] = field(default_factory=list)
    failed: dict[int, BaseException | str] = field(default_factory=dict)
    # Later rows of an aggregate whose earlier row failed in this batch: left pending and untouched, so the
    # claim rule holds them behind that row (even if the broker took them: they are sent again, in order,
    # after it, and consumers are idempotent by event_id).
    deferred: list[int] = field(default_factory=list)


def settle(rows: Sequence[tuple[int, str]], errors: Mapping[int, BaseException | str]) -> Settlement:
    """Rows as ``(id, aggregate_id)`` in id order, and the errors of the rows that were not acknowledged."""
    settlement = Settlement()
    broken: set[str] = set()
    for row_id, aggregate in rows:
        if aggregate in broken:
            settlement.deferred.append(row_id)
        elif row_id in errors:
            settlement.failed[row_id] = errors[row_id]
            broken.add(aggregate)
        else:
            settlement.published.append(row_id)
    return settlement

