"""Usage accounting: every model call recorded, the per-user rate limit and monthly token quota (429)."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from smartcourse.errors import Throttled
from sqlalchemy import Connection, func, insert, select

from smartcourse_ai.domain import Feature
from smartcourse_ai.providers.base import Outcome, TokenUsage
from smartcourse_ai.tables import usage

WINDOW = timedelta(minutes=1)
# Providers that run inside the function (the extractive generator, the packaged embedder): no per-token price.
OFFLINE_PROVIDERS = frozenset({"extractive", "local"})


def month_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month_start(now: datetime) -> datetime:
    start = month_start(now)
    return (start + timedelta(days=32)).replace(day=1)


@dataclass(frozen=True)
class Limits:
    per_minute: int
    monthly_tokens: int


@dataclass(frozen=True)
class MonthUsage:
    calls: int
    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def month_usage(conn: Connection, user_id: uuid.UUID, now: datetime) -> MonthUsage:
    row = conn.execute(select(func.count(), func.coalesce(func.sum(usage.c.prompt_tokens), 0),
                              func.coalesce(func.sum(usage.c.completion_tokens), 0))
                       .where(usage.c.user_id == user_id, usage.c.created_at >= month_start(now))).one()
    return MonthUsage(int(row[0]), int(row[1]), int(row[2]))


def check_limits(conn: Connection, user_id: uuid.UUID, limits: Limits, now: datetime) -> None:
    """Raise ``Throttled`` (429 with ``Retry-After``) when the caller is over the rate limit or the quota."""
    recent = conn.execute(select(func.count(), func.min(usage.c.created_at))
                          .where(usage.c.user_id == user_id, usage.c.created_at > now - WINDOW)).one()
    if int(recent[0]) >= limits.per_minute:
        wait = (recent[1] + WINDOW - now).total_seconds()
        raise Throttled(f"Rate limit: at most {limits.per_minute} AI requests per minute",
                        max(1, math.ceil(wait)))
    if month_usage(conn, user_id, now).total_tokens >= limits.monthly_tokens:
        wait = (next_month_start(now) - now).total_seconds()
        raise Throttled("Monthly AI token quota used up", max(1, math.ceil(wait)))


def record(conn: Connection, *, user_id: uuid.UUID, course_id: uuid.UUID | None, feature: Feature, provider: str,
           model: str, tokens: TokenUsage, latency_ms: float, outcome: Outcome) -> None:
    conn.execute(insert(usage).values(
        user_id=user_id, course_id=course_id, feature=feature.value, provider=provider[:50], model=model[:200],
        prompt_tokens=tokens.prompt_tokens, completion_tokens=tokens.completion_tokens,
        latency_ms=max(0, round(latency_ms)), outcome=outcome.value))


def report(conn: Connection, start: datetime, end: datetime, cost_per_1k_tokens: float) -> list[dict[str, Any]]:
    """Usage per user, course, feature, provider and model in [start, end), with its estimated cost."""
    keys = (usage.c.user_id, usage.c.course_id, usage.c.feature, usage.c.provider, usage.c.model)
    rows = conn.execute(
        select(*keys, func.count().label("calls"), func.sum(usage.c.prompt_tokens).label("prompt_tokens"),
               func.sum(usage.c.completion_tokens).label("completion_tokens"))
        .where(usage.c.created_at >= start, usage.c.created_at < end)
        .group_by(*keys).order_by(*keys))
    out = []
    for r in rows:
        tokens = int(r.prompt_tokens or 0) + int(r.completion_tokens or 0)
        cost = 0.0 if r.provider in OFFLINE_PROVIDERS else round(tokens / 1000 * cost_per_1k_tokens, 6)
        out.append({"user_id": r.user_id, "course_id": r.course_id, "feature": r.feature, "provider": r.provider,
                    "model": r.model, "calls": int(r.calls), "prompt_tokens": int(r.prompt_tokens or 0),
                    "completion_tokens": int(r.completion_tokens or 0), "estimated_cost": cost})
    return out
