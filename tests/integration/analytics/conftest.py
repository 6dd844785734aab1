"""Analytics integration fixtures: a migrated analytics database, events fed through the consumer's own code
(``smartcourse_analytics.ingest.ingest``), the handlers' environment, and callers per role."""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from smartcourse.db.engine import normalise_url
from smartcourse_events.envelope import EventEnvelope
from sqlalchemy import Engine, create_engine

from tests.support.apigw import rest_event

Who = tuple[uuid.UUID, str]
Feed = Callable[[Sequence[EventEnvelope]], int]


def fresh_analytics_database(postgres: Any, prefix: str = "analytics") -> str:
    """A new database on the session's PostgreSQL with the analytics migrations applied; its URL."""
    from smartcourse.db.migrate import upgrade

    url = postgres.database_url(f"{prefix}_{uuid.uuid4().hex[:10]}")
    upgrade(url, service="analytics")
    return str(url)


def make_feed(engine: Engine) -> Feed:
    """``feed(envelopes)``: one consumer transaction through ``ingest`` (claims, then facts and roll-ups)."""
    from smartcourse_analytics.ingest import ingest

    def feed(envelopes: Sequence[EventEnvelope]) -> int:
        with engine.begin() as conn:
            return ingest(conn, list(envelopes))

    return feed


@pytest.fixture(scope="module")
def analytics_url(postgres: Any) -> str:
    return fresh_analytics_database(postgres)


@pytest.fixture(scope="module")
def analytics_db(analytics_url: str) -> Iterator[Engine]:
    engine = create_engine(normalise_url(analytics_url), pool_size=3, max_overflow=3)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def feed(analytics_db: Engine) -> Feed:
    return make_feed(analytics_db)


def reset_analytics_caches() -> None:
    from smartcourse.db import engine as engine_module
    from smartcourse.settings import get_settings
    from smartcourse_analytics import service

    get_settings.cache_clear()
    engine_module.reset_engine()
    service.get_analytics.cache_clear()


@pytest.fixture(scope="module")
def analytics_env(analytics_url: str) -> Iterator[str]:
    """The environment a deployed analytics function sees (its database), for the module's handler calls."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATABASE_URL", analytics_url)
        mp.setenv("DB_NAME", "smartcourse_analytics")
        mp.setenv("SERVICE_NAME", "analytics")
        # No publisher to nudge in process: the outbox rows are what the tests check.
        mp.delenv("OUTBOX_PUBLISHER_FUNCTION", raising=False)
        reset_analytics_caches()
        yield analytics_url
    reset_analytics_caches()


# --- callers ----------------------------------------------------------------------------------------------------


def student() -> Who:
    return uuid.uuid4(), "student"


def instructor() -> Who:
    return uuid.uuid4(), "instructor"


def admin() -> Who:
    return uuid.uuid4(), "admin"


def call(name: str, who: Who | None, **kwargs: Any) -> dict[str, Any]:
    """Invoke the analytics function ``name`` in process with an API Gateway event (``who`` = (user id, roles))."""
    from smartcourse_analytics.catalogue import function

    fn = function(name if name.startswith("analytics-") else f"analytics-{name}")
    module = importlib.import_module(fn.module)
    principal = (str(who[0]), who[1]) if who else None
    return dict(module.handler(rest_event(fn, principal=principal, **kwargs), None))
