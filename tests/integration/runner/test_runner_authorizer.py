"""The Lambda REQUEST authorizer run as API Gateway runs it."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from aws_lambda_powertools.utilities.parser.models import ApiGatewayAuthorizerRequest, APIGatewayProxyEventModel

from tests.runner_app.testing import read_jsonl

pytestmark = pytest.mark.integration


def calls(out: Path) -> int:
    return len(read_jsonl(out, "authorizer_events"))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_missing_identity_source_is_401_without_invoking(lms: httpx.Client, runner_out: Path) -> None:
    before = calls(runner_out)
    response = lms.get("/v1/private")
    assert response.status_code == 401 and response.json() == {"message": "Unauthorized"}
    assert calls(runner_out) == before


def test_unauthorized_token_is_401(lms: httpx.Client, runner_out: Path) -> None:
    before = calls(runner_out)
    response = lms.get("/v1/private", headers=bearer(f"bad-{uuid.uuid4()}"))
    assert response.status_code == 401 and response.json() == {"message": "Unauthorized"}
    assert calls(runner_out) == before + 1


def test_deny_is_403(lms: httpx.Client) -> None:
    response = lms.get("/v1/private", headers=bearer("deny"))
    assert response.status_code == 403
    assert response.json() == {"message": "User is not authorized to access this resource with an explicit deny"}


def test_allow_passes_context_and_the_event_is_api_gateways(lms: httpx.Client, runner_out: Path) -> None:
    token = f"allow-{uuid.uuid4()}"
    response = lms.get("/v1/private?x=1", headers=bearer(token))
    assert response.status_code == 200, response.text
    event = response.json()["event"]
    APIGatewayProxyEventModel.model_validate(event)
    authorizer = event["requestContext"]["authorizer"]
    assert authorizer["principalId"] == "user-1" and authorizer["user_id"] == "user-1"
    assert authorizer["roles"] == "student" and authorizer["admin"] == "false" and authorizer["level"] == "3"
    request = next(e for e in reversed(read_jsonl(runner_out, "authorizer_events"))
                   if e["headers"].get("Authorization") == f"Bearer {token}")
    ApiGatewayAuthorizerRequest.model_validate(request)
    assert request["type"] == "REQUEST" and request["queryStringParameters"] == {"x": "1"}
    assert request["methodArn"].endswith("/test/GET/v1/private")


def test_result_is_cached_per_identity_and_policy_checked_per_request(lms: httpx.Client, runner_out: Path) -> None:
    token = f"allow-{uuid.uuid4()}"
    before = calls(runner_out)
    assert lms.get("/v1/private", headers=bearer(token)).status_code == 200
    assert lms.get("/v1/private", headers=bearer(token)).status_code == 200
    assert calls(runner_out) == before + 1  # the second call used the cache
    # The cached policy allows GET only: POST is refused without asking the authorizer again.
    denied = lms.post("/v1/private", headers=bearer(token))
    assert denied.status_code == 403 and denied.json() == {"message": "User is not authorized to access this resource"}
    assert calls(runner_out) == before + 1
    assert lms.get("/v1/private", headers=bearer(f"allow-{uuid.uuid4()}")).status_code == 200
    assert calls(runner_out) == before + 2  # another identity, another call
