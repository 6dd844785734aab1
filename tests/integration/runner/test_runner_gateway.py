"""The REST API as API Gateway serves it: routes, gateway responses, event shape, response shaping."""

from __future__ import annotations

import base64
import json
from typing import Any

import boto3
import httpx
import pytest
from aws_lambda_powertools.utilities.parser.models import APIGatewayProxyEventModel
from localcloud.provision import UNRESOLVED
from localcloud.runner import FunctionError, LocalCloudRunner

pytestmark = pytest.mark.integration


def echoed(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body = response.json()
    APIGatewayProxyEventModel.model_validate(body["event"])
    return body


def test_static_route_and_query_strings(lms: httpx.Client) -> None:
    body = echoed(lms.get("/v1/echo?a=1&a=2&b=", headers={"X-Multi": "one"}))
    event = body["event"]
    assert (event["resource"], event["path"], event["httpMethod"]) == ("/v1/echo", "/v1/echo", "GET")
    assert event["queryStringParameters"] == {"a": "2", "b": ""}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": [""]}
    assert event["pathParameters"] is None and event["body"] is None and event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["stage"] == "test" and context["path"] == "/v1/echo"  # as sent: served at the root
    assert context["resourcePath"] == "/v1/echo" and context["identity"]["sourceIp"] == "127.0.0.1"
    assert event["headers"]["X-Multi"] == "one" and event["headers"]["X-Forwarded-Proto"] == "http"


def test_path_parameters_any_method_and_literal_precedence(lms: httpx.Client) -> None:
    for method in ("GET", "PUT", "DELETE", "PATCH"):
        event = echoed(lms.request(method, "/v1/items/42%20a"))["event"]
        assert event["resource"] == "/v1/items/{item_id}" and event["httpMethod"] == method
        assert event["pathParameters"] == {"item_id": "42 a"}
    event = echoed(lms.get("/v1/items/7/fixed"))["event"]
    assert event["resource"] == "/v1/items/{item_id}/fixed" and event["pathParameters"] == {"item_id": "7"}


def test_greedy_proxy(lms: httpx.Client) -> None:
    event = echoed(lms.get("/v1/files/a/b/c.txt"))["event"]
    assert event["resource"] == "/v1/files/{proxy+}" and event["pathParameters"] == {"proxy": "a/b/c.txt"}
    assert lms.get("/v1/files").status_code == 404  # {proxy+} needs at least one segment


def test_unknown_route_and_method_use_the_gateway_response(lms: httpx.Client, runner: LocalCloudRunner) -> None:
    for response in (lms.get("/nope"), lms.get("/v1"), lms.post("/v1/items/1/fixed"), lms.delete("/v1/echo")):
        assert response.status_code == 404  # the template customises MISSING_AUTHENTICATION_TOKEN
        assert response.json() == {"message": "Not Found"}
        assert response.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    # The admin API has no gateway responses: API Gateway's default.
    default = httpx.get(runner.urls["admin"] + "/nope")
    assert default.status_code == 403 and default.json() == {"message": "Missing Authentication Token"}
    assert httpx.get(runner.urls["admin"] + "/ping").status_code == 200


@pytest.mark.parametrize("method", ["TRACE", "QUERY", "FROBNICATE"])
def test_a_method_without_a_route_gets_the_gateway_answer_not_http_servers(runner: LocalCloudRunner,
                                                                           method: str) -> None:
    # API Gateway (REST) answers a method or resource it has no route for with its JSON 403.
    for url in (runner.urls["admin"] + "/ping", runner.urls["admin"] + "/nope"):
        response = httpx.request(method, url, content=b'{"a": 1}')
        assert response.status_code == 403, response.text
        assert response.json() == {"message": "Missing Authentication Token"}
        assert response.headers["Content-Type"] == "application/json"
        assert response.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
        assert response.headers["x-amzn-RequestId"]
    # An API that customises MISSING_AUTHENTICATION_TOKEN answers with its own response, as for a GET.
    customised = httpx.request(method, runner.urls["lms"] + "/v1/echo")
    assert customised.status_code == 404 and customised.json() == {"message": "Not Found"}


def test_post_text_and_binary_bodies(lms: httpx.Client) -> None:
    event = echoed(lms.post("/v1/echo", json={"x": 1}))["event"]
    assert json.loads(event["body"]) == {"x": 1} and event["isBase64Encoded"] is False
    raw = bytes(range(256))
    event = echoed(lms.post("/v1/echo", content=raw, headers={"Content-Type": "application/octet-stream"}))["event"]
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == raw


def test_response_shaping(lms: httpx.Client) -> None:
    response = lms.get("/v1/echo")
    assert response.headers["X-Echo"] == "1" and response.headers["content-type"] == "application/json"
    assert response.headers.get_list("set-cookie") == ["a=1", "b=2"]
    assert response.headers["x-amzn-RequestId"] == response.json()["event"]["requestContext"]["requestId"]
    head = lms.head("/v1/echo")
    assert head.status_code == 200 and head.content == b"" and int(head.headers["content-length"]) > 0
    preflight = lms.options("/v1/cors")  # CDK's CORS preflight: a MOCK integration
    assert preflight.status_code == 204 and preflight.headers["access-control-allow-methods"] == "GET"


def test_function_error_is_502(lms: httpx.Client) -> None:
    response = lms.get("/v1/fail")
    assert response.status_code == 502 and response.json() == {"message": "Internal server error"}


def test_environment_is_resolved_to_local_resources(lms: httpx.Client, runner_overrides: dict[str, str]) -> None:
    body = echoed(lms.get("/v1/echo"))
    env, context = body["env"], body["context"]
    assert body["layer"] == "hello from the shared layer"
    sm = boto3.client("secretsmanager", endpoint_url=runner_overrides["AWS_ENDPOINT_URL"], region_name="us-east-1")
    assert len(sm.get_secret_value(SecretId=env["SECRET_ARN"])["SecretString"]) == 40
    db_secret = json.loads(sm.get_secret_value(SecretId=env["DB_SECRET_ARN"])["SecretString"])
    assert db_secret["username"] == "app" and len(db_secret["password"]) == 32
    s3 = boto3.client("s3", endpoint_url=runner_overrides["AWS_ENDPOINT_URL"], region_name="us-east-1")
    s3.head_bucket(Bucket=env["BUCKET"])
    assert env["QUEUE_URL"].startswith(runner_overrides["AWS_ENDPOINT_URL"])
    assert env["UNKNOWN_REF"].startswith(UNRESOLVED)
    assert env["DATABASE_URL"] == runner_overrides["DATABASE_URL"] + "/runner_test_db"
    assert env["AWS_ENDPOINT_URL"] == runner_overrides["AWS_ENDPOINT_URL"]
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == runner_overrides["KAFKA_BOOTSTRAP_SERVERS"]
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "test-echo" and env["_HANDLER"] == "echo.handler"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert context["function_name"] == "test-echo" and context["memory_limit_in_mb"] == 256
    assert context["invoked_function_arn"].endswith(":function:test-echo")
    assert 0 < context["remaining_ms"] <= 3000 and context["log_group_name"] == "/aws/lambda/test-echo"


def test_stats_are_served(lms: httpx.Client, runner: LocalCloudRunner) -> None:
    lms.get("/v1/echo")
    stats = lms.get("/__localcloud/stats").json()
    assert stats["functions"]["test-echo"]["invocations"] >= 1
    assert stats["functions"]["test-echo"]["cold_starts"] >= 1
    assert stats["functions"]["test-echo"]["init_ms_last"] is not None
    assert runner.stats()["apis"]["lms"]["requests"] >= 1


def test_direct_invocation(runner: LocalCloudRunner) -> None:
    result = runner.invoke("test-echo", {"hello": "world"})
    assert json.loads(result["body"])["event"] == {"hello": "world"}
    with pytest.raises(FunctionError, match="ValueError: sample failure") as failure:
        runner.invoke("test-failing", {})
    assert failure.value.error["errorType"] == "ValueError" and failure.value.error["stackTrace"]
