"""Logs of real auth flows: JSON lines with the request's correlation id, and never a password or a token.

Register, login, refresh (and a refresh token replayed, which logs a warning), the authorizer with the access
token, password reset and logout run through their Lambda entry points against PostgreSQL and the AWS
emulator, with every logger of the platform at DEBUG. What they wrote to stdout (what Lambda ships to
CloudWatch) and what went through Python logging must hold none of the secrets that travelled in the
requests and responses. The events they wrote carry the caller's correlation id.
"""

from __future__ import annotations

import importlib
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from smartcourse import observability
from smartcourse.observability import OWN_PACKAGES
from sqlalchemy import Engine, text

from stacks.services import function
from tests.support import auth as fixtures
from tests.support.apigw import authorizer_event, body_of, rest_event

lms_url, engine, handler_env = fixtures.lms_url, fixtures.engine, fixtures.handler_env

pytestmark = pytest.mark.integration


class Context:
    def __init__(self, name: str) -> None:
        self.function_name = name
        self.aws_request_id = f"lambda-{uuid.uuid4()}"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def invoke(name: str, event: dict[str, Any]) -> Any:
    fn = function(name)
    module_name, _, attribute = fn.handler.rpartition(".")
    return getattr(importlib.import_module(module_name), attribute)(event, Context(name))


def call(name: str, correlation_id: str, **kwargs: Any) -> dict[str, Any]:
    headers = {"X-Correlation-Id": correlation_id, **kwargs.pop("headers", {})}
    return invoke(name, rest_event(function(name), headers=headers, **kwargs))


@pytest.fixture()
def debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    names = {*OWN_PACKAGES, observability.logger.name}
    levels = {name: logging.getLogger(name).level for name in names}
    for name in names:
        caplog.set_level(logging.DEBUG, logger=name)
    yield caplog
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def test_auth_flows_log_json_with_the_correlation_id_and_no_secret(
        handler_env: str, engine: Engine, debug_logs: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str]) -> None:
    email = f"obs-{uuid.uuid4().hex[:10]}@it.smartcourse.local"
    password, new_password = f"Pw-{uuid.uuid4().hex}", f"Pw2-{uuid.uuid4().hex}"
    capsys.readouterr()

    registered = call("lms-auth-register", "corr-register", body={"email": email, "password": password})
    assert registered["statusCode"] == 201, registered["body"]
    user_id = body_of(registered)["id"]
    login = call("lms-auth-login", "corr-login", body={"email": email, "password": password})
    assert login["statusCode"] == 200, login["body"]
    first = body_of(login)
    refreshed = call("lms-auth-refresh", "corr-refresh", body={"refresh_token": first["refresh_token"]})
    assert refreshed["statusCode"] == 200, refreshed["body"]
    second = body_of(refreshed)
    # Replaying the rotated token revokes the family and logs a warning: a line that must not quote the token.
    replayed = call("lms-auth-refresh", "corr-replay", body={"refresh_token": first["refresh_token"]})
    assert replayed["statusCode"] == 401
    wrong = call("lms-auth-login", "corr-wrong", body={"email": email, "password": new_password})
    assert wrong["statusCode"] == 401
    allowed = invoke("lms-authorizer", authorizer_event(second["access_token"]))
    assert allowed["context"]["user_id"] == user_id
    reset = call("lms-auth-password-reset", "corr-reset", body={"token": f"tok-{uuid.uuid4().hex}",
                                                                  "new_password": new_password})
    assert reset["statusCode"] in (400, 401, 422), reset["body"]
    logout = call("lms-auth-logout", "corr-logout", body={"refresh_token": second["refresh_token"]},
                  principal=(user_id, "student"))
    assert logout["statusCode"] == 204

    stdout = capsys.readouterr().out
    lines = [json.loads(line) for line in stdout.splitlines() if line.startswith("{") and '"level"' in line]
    done = {line["correlation_id"] for line in lines if line["message"] == "invocation done"}
    assert done >= {"corr-register", "corr-login", "corr-refresh", "corr-replay", "corr-wrong", "corr-reset",
                    "corr-logout"}
    [warning] = [line for line in lines if line["message"] == "refresh token reuse detected"]
    assert warning["correlation_id"] == "corr-replay" and warning["level"] == "WARNING"
    assert warning["service"] and warning["function_name"] == "lms-auth-refresh"

    secrets = {"password": password, "new password": new_password, "access token": first["access_token"],
               "refresh token": first["refresh_token"], "rotated access token": second["access_token"],
               "rotated refresh token": second["refresh_token"]}
    logged = stdout + "\n" + debug_logs.text + "\n" + "\n".join(
        json.dumps(r.__dict__, default=str) for r in debug_logs.records)
    leaked = [what for what, value in secrets.items() if value in logged]
    assert leaked == [], f"logged: {leaked}"

    # The events the requests wrote carry their correlation id (into every consumer's logs).
    with engine.connect() as conn:
        registered_event = conn.execute(text(
            "SELECT envelope FROM outbox WHERE envelope->>'event_type' = 'user.registered' "
            "AND envelope->'payload'->>'user_id' = :id"), {"id": user_id}).scalar_one()
    assert registered_event["correlation_id"] == "corr-register"
