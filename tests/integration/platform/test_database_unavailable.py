"""A database error a retry may clear is a 503 with Retry-After; any other stays a 500 (a bug to fix).

Real errors from the session's PostgreSQL, raised inside a route of the platform's resolver: a deadlock
victim, a lock wait given up, a session the server ends (a restart), a server out of reach; and, through a real LMS
handler, a database that is down.
"""

from __future__ import annotations

import importlib
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any, cast

import pytest
from aws_lambda_powertools.event_handler import Response
from localcloud.services import PostgresService, free_port
from smartcourse.catalogue import Function, HttpRoute, Service
from smartcourse.db.engine import make_engine, normalise_url
from smartcourse.http import DATABASE_RETRY_AFTER_SECONDS, DATABASE_UNAVAILABLE, make_resolver, route
from sqlalchemy import Connection, Engine, create_engine, text

from stacks.services import function
from tests.support import auth as fixtures
from tests.support.apigw import body_of, rest_event

lms_url, engine, handler_env = fixtures.lms_url, fixtures.engine, fixtures.handler_env

pytestmark = pytest.mark.integration

WORK = Function(name="unit-work", service=Service.LMS, handler="unit.work.handler", description="Work",
                routes=(HttpRoute("POST", "/api/v1/work", authorized=False),))


@pytest.fixture(scope="module")
def probe(postgres: PostgresService) -> Iterator[Engine]:
    db = create_engine(normalise_url(postgres.url))  # a pool of several: the tests hold one connection aside
    with db.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS transient_probe (id int PRIMARY KEY)"))
        conn.execute(text("INSERT INTO transient_probe VALUES (1), (2) ON CONFLICT DO NOTHING"))
    yield db
    db.dispose()


def answer(work: Callable[[], None]) -> dict[str, Any]:
    """What the platform's resolver answers when the route runs ``work``."""
    app = make_resolver()

    @route(app, WORK, status_code=201)
    def run() -> Any:
        work()
        return Response(status_code=201, content_type="application/json", body=json.dumps({"ok": True}))

    return cast(dict[str, Any], app.resolve(rest_event(WORK, body={}), cast(Any, None)))


def assert_unavailable(response: dict[str, Any]) -> None:
    assert response["statusCode"] == 503, response["body"]
    assert body_of(response) == {"detail": DATABASE_UNAVAILABLE}
    assert response["multiValueHeaders"]["Retry-After"] == [str(DATABASE_RETRY_AFTER_SECONDS)]


def lock(conn: Connection, row: int) -> None:
    conn.execute(text("SELECT id FROM transient_probe WHERE id = :id FOR UPDATE"), {"id": row})


def test_a_deadlock_victim_is_503(probe: Engine) -> None:
    # Rows locked in opposite orders; the other side detects deadlocks only after 10 s, so the route's
    # transaction (1 s, the default) is the one the server rolls back.
    route_holds_1, other_holds_2 = threading.Event(), threading.Event()

    def other_side() -> None:
        with probe.begin() as conn:
            conn.execute(text("SET LOCAL deadlock_timeout = '10s'"))
            lock(conn, 2)
            other_holds_2.set()
            assert route_holds_1.wait(30)
            lock(conn, 1)  # granted once the route's transaction is rolled back

    def work() -> None:
        with probe.begin() as conn:
            lock(conn, 1)
            route_holds_1.set()
            assert other_holds_2.wait(30)
            lock(conn, 2)

    other = threading.Thread(target=other_side)
    other.start()
    try:
        assert_unavailable(answer(work))
    finally:
        other.join(60)
    assert not other.is_alive()


def test_a_lock_wait_given_up_is_503(probe: Engine) -> None:
    def work() -> None:
        with probe.begin() as conn:
            conn.execute(text("SET LOCAL lock_timeout = '100ms'"))
            lock(conn, 1)

    with probe.begin() as holder:
        lock(holder, 1)
        assert_unavailable(answer(work))


def test_a_connection_the_server_ends_mid_request_is_503(probe: Engine) -> None:
    # What a database restart (or a failover) does to a request in flight: the server ends its session.
    def work() -> None:
        with probe.begin() as conn:
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
            with probe.connect() as admin:
                assert admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
            conn.execute(text("SELECT 1"))

    assert_unavailable(answer(work))


def test_a_database_out_of_reach_is_503() -> None:
    unreachable = make_engine(f"postgresql://postgres@127.0.0.1:{free_port()}/postgres")
    try:
        assert_unavailable(answer(lambda: unreachable.connect().close()))
    finally:
        unreachable.dispose()


@pytest.mark.parametrize("statement", ["INSERT INTO transient_probe VALUES (1)", "SELECT no_such_column FROM t"])
def test_other_database_errors_stay_500(probe: Engine, statement: str) -> None:
    def work() -> None:
        with probe.begin() as conn:
            conn.execute(text(statement))

    response = answer(work)
    assert response["statusCode"] == 500 and body_of(response) == {"detail": "Internal server error"}
    assert "Retry-After" not in (response.get("multiValueHeaders") or {})


def test_an_lms_route_with_its_database_down_is_503_and_writes_nothing(
        handler_env: str, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from smartcourse.db import engine as engine_module
    from smartcourse.settings import get_settings

    title = f"Never stored {uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("DATABASE_URL", f"postgresql://postgres@127.0.0.1:{free_port()}/smartcourse_lms")
    get_settings.cache_clear()
    engine_module.reset_engine()
    fn = function("lms-courses-create")
    who = (str(uuid.uuid4()), "instructor")
    response = importlib.import_module(fn.module).handler(rest_event(fn, principal=who, body={"title": title}), None)
    assert_unavailable(response)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM courses WHERE title = :t"), {"t": title}).scalar_one() == 0
