"""The Idempotency-Key wrapper: key rules, scope, replay, 422 on another request, what is not kept, expiry,
concurrent duplicates and retries after a crash or a timeout.

Powertools' DynamoDB persistence layer runs against moto's in-process DynamoDB (no network); the request
is a real REST proxy event through the project's resolver.
"""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from typing import Any, cast

import pytest
from aws_lambda_powertools.event_handler import Response
from smartcourse import aws_clients, idempotency
from smartcourse.catalogue import Function, HttpRoute, Service
from smartcourse.errors import Conflict, Throttled
from smartcourse.http import make_resolver, route
from smartcourse.settings import get_settings

from tests.support.apigw import body_of, rest_event
from tests.support.paths import ROOT

TABLE = "unit-idempotency"
ALICE = ("0b7f3e0e-3f7a-4a39-9d6f-2f1f4b0f6a01", "student")
BOB = ("6d0c8a5e-8a4c-4e55-a1de-3a1f0e9f4b02", "student")
THING = Function(name="unit-things-create", service=Service.LMS, handler="unit.things.handler",
                 description="Create a thing", routes=(HttpRoute("POST", "/api/v1/things"),))
OTHER = Function(name="unit-others-create", service=Service.LMS, handler="unit.others.handler",
                 description="Create another thing", routes=(HttpRoute("POST", "/api/v1/others"),))
READ = Function(name="unit-things-list", service=Service.LMS, handler="unit.list.handler",
                description="List things", routes=(HttpRoute("GET", "/api/v1/things"),))
LOGIN = Function(name="unit-login", service=Service.LMS, handler="unit.login.handler", description="Log in",
                 routes=(HttpRoute("POST", "/api/v1/login", authorized=False),))


class Context:
    """A Lambda context whose deadline is ``remaining_ms`` from its creation."""

    def __init__(self, remaining_ms: int = 10_000) -> None:
        self.deadline = time.time() * 1000 + remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self.deadline - time.time() * 1000))


class Api:
    """A resolver whose routes count their runs; ``behaviour`` decides what the next run answers."""

    def __init__(self) -> None:
        self.app = make_resolver()
        self.runs = 0
        self.behaviour: Callable[[], Any] = lambda: {"n": self.runs}
        for fn in (THING, OTHER, READ, LOGIN):
            self._register(fn)

    def _register(self, fn: Function) -> None:
        status = 200 if fn.route.method == "GET" else 201

        @route(self.app, fn, status_code=status)
        def run() -> Any:
            self.runs += 1
            return Response(status_code=status, content_type="application/json",
                            body=json.dumps(self.behaviour()))

    def call(self, fn: Function = THING, *, key: str | None = "key-1", who: tuple[str, str] | None = ALICE,
             body: Any = None, raw_body: str | None = None, context: Any = None,
             headers: dict[str, str] | None = None) -> dict[str, Any]:
        extra = {**({idempotency.HEADER: key} if key is not None else {}), **(headers or {})}
        body = {"title": "T"} if body is None and raw_body is None and fn.route.method != "GET" else body
        event = rest_event(fn, principal=who, body=body, raw_body=raw_body, headers=extra)
        return self.app.resolve(event, cast(Any, context or Context()))


def replayed(response: dict[str, Any]) -> bool:
    return (response.get("multiValueHeaders") or {}).get(idempotency.REPLAYED_HEADER) == ["true"]


def without_replay_mark(response: dict[str, Any]) -> dict[str, Any]:
    headers = {k: v for k, v in response["multiValueHeaders"].items() if k != idempotency.REPLAYED_HEADER}
    return {**response, "multiValueHeaders": headers}


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from moto import mock_aws

    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                        "IDEMPOTENCY_TABLE": TABLE}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    aws_clients.reset_clients()
    with mock_aws():
        import boto3

        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
        yield client
    aws_clients.reset_clients()
    get_settings.cache_clear()


@pytest.fixture
def api(table: Any) -> Api:
    return Api()


def shift_clock(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Move Powertools' clock (every module that reads ``datetime.now``) ``seconds`` ahead."""
    class Shifted(datetime.datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return datetime.datetime.fromtimestamp(time.time() + seconds, tz)

    shifted = types.SimpleNamespace(datetime=Shifted, timedelta=datetime.timedelta)
    from aws_lambda_powertools.utilities.idempotency import base
    from aws_lambda_powertools.utilities.idempotency.persistence import base as persistence_base
    from aws_lambda_powertools.utilities.idempotency.persistence import datarecord, dynamodb

    for module in (base, persistence_base, datarecord, dynamodb):
        monkeypatch.setattr(module, "dt", shifted)


def items(table: Any) -> list[dict[str, Any]]:
    return list(table.scan(TableName=TABLE)["Items"])


# --- replay ------------------------------------------------------------------------------------------------


def test_without_the_header_every_request_runs(api: Api) -> None:
    assert [api.call(key=None)["statusCode"] for _ in range(2)] == [201, 201]
    assert api.runs == 2


def test_a_reading_method_ignores_the_header(api: Api) -> None:
    api.call(READ)
    api.call(READ)
    assert api.runs == 2


def test_the_same_key_and_request_answer_the_first_response_once(api: Api, table: Any) -> None:
    first = api.call()
    second = api.call()
    assert first["statusCode"] == 201 and body_of(first) == {"n": 1}
    assert api.runs == 1
    assert replayed(second) and not replayed(first)
    assert without_replay_mark(second) == first
    [record] = items(table)
    assert record["status"]["S"] == "COMPLETED"
    # Kept for 24 hours (DynamoDB's TTL attribute).
    assert int(record["expiration"]["N"]) - time.time() == pytest.approx(idempotency.EXPIRES_AFTER_SECONDS, abs=5)


def test_a_json_body_matches_by_value_not_by_spelling(api: Api) -> None:
    api.call(raw_body='{"title": "T", "n": 1}')
    second = api.call(raw_body='{"n":1,   "title":"T"}')
    assert replayed(second) and api.runs == 1


def test_the_same_key_with_another_body_is_422_and_runs_nothing(api: Api) -> None:
    api.call(body={"title": "first"})
    response = api.call(body={"title": "second"})
    assert response["statusCode"] == 422
    assert body_of(response)["detail"][0]["loc"] == ["header", idempotency.HEADER]
    assert body_of(response)["detail"][0]["type"] == "idempotency_key_reused"
    assert api.runs == 1


def test_the_same_key_on_another_route_is_422(api: Api) -> None:
    api.call(THING)
    response = api.call(OTHER)
    assert response["statusCode"] == 422 and api.runs == 1


def test_keys_are_scoped_to_the_caller(api: Api) -> None:
    assert body_of(api.call(who=ALICE)) == {"n": 1}
    assert body_of(api.call(who=BOB)) == {"n": 2}
    assert api.runs == 2
    assert replayed(api.call(who=BOB)) and api.runs == 2


def test_callers_without_a_token_share_the_anonymous_scope(api: Api, table: Any) -> None:
    first = api.call(LOGIN, who=None)
    second = api.call(LOGIN, who=None)
    assert replayed(second) and api.runs == 1 and body_of(second) == body_of(first)
    assert idempotency.scope_of(rest_event(LOGIN)) == idempotency.ANONYMOUS_SCOPE


@pytest.mark.parametrize("key", ["", " padded", "has space", "x" * 256, "ключ", "tab\there"])
def test_a_malformed_key_is_422_and_runs_nothing(api: Api, key: str) -> None:
    response = api.call(key=key)
    assert response["statusCode"] == 422
    [entry] = body_of(response)["detail"]
    assert entry["loc"] == ["header", idempotency.HEADER] and "visible ASCII" in entry["msg"]
    assert api.runs == 0


def test_the_longest_key_is_accepted(api: Api) -> None:
    assert api.call(key="k" * idempotency.MAX_KEY_LENGTH)["statusCode"] == 201


def test_two_keys_in_one_request_are_422(api: Api) -> None:
    event = rest_event(THING, principal=ALICE, body={"title": "T"})
    event["multiValueHeaders"][idempotency.HEADER] = ["a", "b"]
    response = api.app.resolve(event, cast(Any, Context()))
    assert response["statusCode"] == 422 and api.runs == 0


def test_the_header_name_is_case_insensitive(api: Api) -> None:
    api.call(key=None, headers={"idempotency-key": "lower"})
    assert replayed(api.call(key=None, headers={"IDEMPOTENCY-KEY": "lower"}))
    assert api.runs == 1


# --- what is kept --------------------------------------------------------------------------------------------


def test_a_server_error_is_not_kept_so_a_retry_runs_again(api: Api, table: Any) -> None:
    def crash() -> Any:
        raise RuntimeError("database went away")

    api.behaviour = crash
    assert api.call()["statusCode"] == 500
    assert items(table) == []
    api.behaviour = lambda: {"n": api.runs}
    retried = api.call()
    assert retried["statusCode"] == 201 and not replayed(retried) and api.runs == 2
    assert replayed(api.call()) and api.runs == 2


def test_a_throttled_answer_is_not_kept(api: Api) -> None:
    def throttled() -> Any:
        raise Throttled("slow down", retry_after_seconds=1)

    api.behaviour = throttled
    assert api.call()["statusCode"] == 429
    api.behaviour = lambda: {"n": api.runs}
    assert api.call()["statusCode"] == 201 and api.runs == 2


def test_a_final_client_error_is_kept(api: Api) -> None:
    def conflict() -> Any:
        raise Conflict("already there")

    api.behaviour = conflict
    first = api.call()
    api.behaviour = lambda: {"n": api.runs}
    second = api.call()
    assert first["statusCode"] == second["statusCode"] == 409
    assert replayed(second) and api.runs == 1


def test_a_key_expires_after_24_hours(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    api.call()
    shift_clock(monkeypatch, idempotency.EXPIRES_AFTER_SECONDS - 60)
    assert replayed(api.call()) and api.runs == 1
    shift_clock(monkeypatch, idempotency.EXPIRES_AFTER_SECONDS + 1)
    again = api.call()
    assert again["statusCode"] == 201 and not replayed(again) and api.runs == 2


# --- duplicates in flight, crashes, timeouts ---------------------------------------------------------------


def _blocking(api: Api) -> tuple[threading.Event, threading.Event]:
    started, release = threading.Event(), threading.Event()

    def slow() -> Any:
        started.set()
        assert release.wait(10)
        return {"n": api.runs}

    api.behaviour = slow
    return started, release


def test_a_concurrent_duplicate_gets_409_then_the_first_response(api: Api) -> None:
    started, release = _blocking(api)
    results: list[dict[str, Any]] = []
    first = threading.Thread(target=lambda: results.append(api.call()))
    first.start()
    assert started.wait(10)
    duplicate = api.call()
    release.set()
    first.join(10)
    assert duplicate["statusCode"] == 409
    assert duplicate["multiValueHeaders"]["Retry-After"] == ["1"]
    assert "in progress" in body_of(duplicate)["detail"]
    [original] = results
    later = api.call()
    assert replayed(later) and without_replay_mark(later) == original and api.runs == 1


def test_a_client_retry_after_its_timeout_gets_the_first_response(api: Api) -> None:
    """The client gave up waiting; the function finished anyway: the retry must not act again."""
    started, release = _blocking(api)
    worker = threading.Thread(target=api.call)
    worker.start()
    assert started.wait(10)
    release.set()  # the client has already hung up: nobody reads this answer
    worker.join(10)
    retry = api.call()
    assert retry["statusCode"] == 201 and replayed(retry) and api.runs == 1


def _killed_mid_request(api: Api, remaining_ms: int) -> None:
    """The runtime dies inside the handler (a crash, or Lambda ending it at its deadline): nothing cleans up."""

    def die() -> Any:
        raise SystemExit(137)  # not an Exception: nothing in the resolver or Powertools handles it

    api.behaviour = die
    with pytest.raises(SystemExit):
        api.call(context=Context(remaining_ms))
    api.behaviour = lambda: {"n": api.runs}


def test_a_retry_after_a_crash_runs_again_once_the_crashed_request_s_deadline_passed(
        api: Api, table: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    _killed_mid_request(api, remaining_ms=5_000)
    [record] = items(table)
    assert record["status"]["S"] == "INPROGRESS"
    assert api.call()["statusCode"] == 409  # it might still be running
    shift_clock(monkeypatch, 6)
    retry = api.call()
    assert retry["statusCode"] == 201 and not replayed(retry) and api.runs == 2
    assert replayed(api.call()) and api.runs == 2


def test_a_retry_after_a_function_timeout_runs_again(api: Api, table: Any) -> None:
    # Lambda ended the invocation at its deadline (remaining time ~0): the record expires at once.
    _killed_mid_request(api, remaining_ms=20)
    time.sleep(0.05)
    retry = api.call()
    assert retry["statusCode"] == 201 and api.runs == 2


def test_without_a_lambda_context_an_in_progress_record_expires_within_api_gateway_s_timeout(
        api: Api, table: Any) -> None:
    started, release = _blocking(api)
    worker = threading.Thread(target=lambda: api.app.resolve(
        rest_event(THING, principal=ALICE, body={"title": "T"}, headers={idempotency.HEADER: "no-context"}),
        cast(Any, None)))
    worker.start()
    assert started.wait(10)
    [record] = items(table)
    left_ms = int(record["in_progress_expiration"]["N"]) - time.time() * 1000
    release.set()
    worker.join(10)
    assert 0 < left_ms <= idempotency.FALLBACK_REMAINING_MS


def test_an_unreachable_store_is_503_not_500(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDEMPOTENCY_TABLE", "no-such-table")
    get_settings.cache_clear()
    response = api.call()
    assert response["statusCode"] == 503 and api.runs == 0


def test_a_function_without_a_table_answers_503_to_a_key(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IDEMPOTENCY_TABLE")
    get_settings.cache_clear()
    assert api.call()["statusCode"] == 503
    assert api.call(key=None)["statusCode"] == 201


# --- cost ----------------------------------------------------------------------------------------------------


def test_nothing_of_it_loads_until_a_request_carries_the_header() -> None:
    code = ("import sys; import smartcourse.http as h; h.make_resolver(); "
            "print('aws_lambda_powertools.utilities.idempotency' in sys.modules, 'boto3' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": f"{ROOT / 'layers/core/python'}", "PATH": "/usr/bin:/bin"})
    assert out.stdout.split() == ["False", "False"]
