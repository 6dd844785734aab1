"""The unit of work nudges the outbox publisher after a commit that wrote outbox rows (real HTTP, real database)."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from localcloud.services import free_port
from smartcourse.db.engine import make_engine
from smartcourse.db.unit_of_work import UnitOfWork
from smartcourse.settings import get_settings
from sqlalchemy import Engine, text

from tests.support.auth import fresh_database

pytestmark = pytest.mark.integration
FUNCTION = "lms-outbox-publisher"


class LambdaInvokeRecorder:
    """A stand-in for the Lambda Invoke API that records each request and answers like an async invoke (202)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                recorder.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> LambdaInvokeRecorder:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def engine(postgres: Any) -> Iterator[Engine]:
    engine = make_engine(fresh_database(postgres, "outbox_nudge"))
    yield engine
    engine.dispose()


@pytest.fixture()
def nudging(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.setenv("OUTBOX_PUBLISHER_FUNCTION", FUNCTION)
    for name, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                        "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    get_settings.cache_clear()


def _commit(engine: Engine, *, with_event: bool) -> uuid.UUID:
    user = uuid.uuid4()
    with UnitOfWork(engine) as uow:
        uow.connection.execute(text("SELECT 1"))
        if with_event:
            uow.emit({"user_id": str(user)}, event_type="user.email_verified", aggregate_id=user)
        uow.commit()
    return user


def _outbox_rows(engine: Engine, aggregate: uuid.UUID) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM outbox WHERE aggregate_id = :a"), {"a": aggregate})
                   .scalar_one())


def test_a_commit_with_events_nudges_the_publisher_asynchronously(engine: Engine,
                                                                   nudging: pytest.MonkeyPatch) -> None:
    with LambdaInvokeRecorder() as lam:
        nudging.setenv("AWS_ENDPOINT_URL_LAMBDA", lam.endpoint)
        user = _commit(engine, with_event=True)
        assert _outbox_rows(engine, user) == 1
        assert len(lam.requests) == 1
        request = lam.requests[0]
        assert request["path"] == f"/2015-03-31/functions/{FUNCTION}/invocations"
        headers = {k.lower(): v for k, v in request["headers"].items()}
        assert headers["x-amz-invocation-type"] == "Event"
        assert json.loads(request["body"]) == {"reason": "nudge"}
        # A commit that wrote no outbox row, and a unit rolled back, nudge nobody.
        _commit(engine, with_event=False)
        with UnitOfWork(engine) as uow:
            uow.emit({"user_id": str(uuid.uuid4())}, event_type="user.email_verified")
        assert len(lam.requests) == 1
        # Two commits of one unit, each with events: one nudge each.
        with UnitOfWork(engine) as uow:
            for _ in range(2):
                uow.emit({"user_id": str(uuid.uuid4())}, event_type="user.email_verified")
                uow.commit()
            uow.commit()  # nothing new
        assert len(lam.requests) == 3


def test_no_nudge_without_a_publisher_function(engine: Engine, nudging: pytest.MonkeyPatch) -> None:
    with LambdaInvokeRecorder() as lam:
        nudging.setenv("AWS_ENDPOINT_URL_LAMBDA", lam.endpoint)
        nudging.delenv("OUTBOX_PUBLISHER_FUNCTION")
        get_settings.cache_clear()
        _commit(engine, with_event=True)
        assert lam.requests == []


def test_an_unreachable_lambda_endpoint_does_not_fail_the_commit(engine: Engine, nudging: pytest.MonkeyPatch,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    nudging.setenv("AWS_ENDPOINT_URL_LAMBDA", f"http://127.0.0.1:{free_port()}")
    started = time.monotonic()
    user = _commit(engine, with_event=True)
    assert time.monotonic() - started < 3
    assert _outbox_rows(engine, user) == 1
    assert "outbox nudge of lms-outbox-publisher failed" in caplog.text


def test_a_nudging_function_prepares_its_client_at_init_without_invoking(nudging: pytest.MonkeyPatch) -> None:
    from smartcourse.outbox import nudge as nudge_module

    with LambdaInvokeRecorder() as lam:
        nudging.setenv("AWS_ENDPOINT_URL_LAMBDA", lam.endpoint)
        key = (lam.endpoint, os.environ.get("AWS_ENDPOINT_URL"), "us-east-1")
        nudge_module._clients.pop(key, None)
        nudging.delenv("OUTBOX_PUBLISHER_FUNCTION")
        nudge_module.prepare()  # a function that does not nudge builds nothing
        assert key not in nudge_module._clients
        nudging.setenv("OUTBOX_PUBLISHER_FUNCTION", FUNCTION)
        nudge_module.prepare()
        assert key in nudge_module._clients and lam.requests == []
