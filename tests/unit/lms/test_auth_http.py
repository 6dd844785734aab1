"""HTTP helpers: the caller from the authorizer context, role checks, error mapping, the authorizer's policy."""

from __future__ import annotations

import importlib.util
import uuid
from pathlib import Path

import pytest
from smartcourse import errors
from smartcourse.http import make_resolver, principal, require_role, status_of
from smartcourse_lms.auth.domain import Principal

from stacks.services import function
from tests.support.apigw import rest_event

ROOT = Path(__file__).resolve().parents[3]


def _resolver_with(event: dict) -> object:
    app = make_resolver()
    app.append_context()
    app.current_event = app._to_proxy_event(event)  # type: ignore[assignment]
    return app


def test_principal_comes_from_the_authorizer_context() -> None:
    user_id = uuid.uuid4()
    app = _resolver_with(rest_event(function("lms-auth-me"), principal=(str(user_id), "student, admin")))
    caller = principal(app)  # type: ignore[arg-type]
    assert caller == Principal(user_id, frozenset({"student", "admin"})) and caller.is_admin


def test_no_authorizer_context_is_unauthorized() -> None:
    app = _resolver_with(rest_event(function("lms-auth-me")))
    with pytest.raises(errors.Unauthorized):
        principal(app)  # type: ignore[arg-type]


def test_require_role() -> None:
    caller = Principal(uuid.uuid4(), frozenset({"student"}))
    assert require_role(caller, "student", "admin") is caller
    with pytest.raises(errors.Forbidden):
        require_role(caller, "admin")


def test_domain_errors_map_to_statuses() -> None:
    assert status_of(errors.NotFound("x")) == 404
    assert status_of(errors.Conflict("x")) == 409
    assert status_of(errors.Throttled("x", 3)) == 429
    assert status_of(errors.Unauthorized("x")) == 401
    assert status_of(errors.Forbidden("x")) == 403


def test_authorizer_policy_covers_the_whole_stage() -> None:
    module = importlib.import_module("lms.auth.authorizer")
    arn = "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3/prod/PATCH/api/v1/admin/users/42"
    assert module.stage_wildcard_arn(arn) == "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3/prod/*"
    assert module._bearer_token({"headers": {"authorization": "bearer abc"}}) == "abc"
    assert module._bearer_token({"headers": {"Authorization": "Basic abc"}}) is None
    assert module._bearer_token({"headers": None}) is None


def test_optional_principal_is_anonymous_only_for_the_anonymous_grant() -> None:
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver
    from smartcourse.errors import Unauthorized
    from smartcourse.http import optional_principal
    from smartcourse_lms.auth.domain import ANONYMOUS

    def resolver_with(authorizer: dict) -> APIGatewayRestResolver:
        app = APIGatewayRestResolver()
        app.append_context()
        app.current_event = type("E", (), {"raw_event": {"requestContext": {"authorizer": authorizer}}})()
        return app

    assert optional_principal(resolver_with({"principalId": "anonymous", "user_id": ""})) == ANONYMOUS
    user = "6f1c2d4e-0000-4000-8000-000000000001"
    assert optional_principal(resolver_with({"principalId": user, "user_id": user, "roles": "student"})).user_id \
        == uuid.UUID(user)
    with pytest.raises(Unauthorized):
        optional_principal(resolver_with({}))
    assert not ANONYMOUS.is_admin and not ANONYMOUS.roles
