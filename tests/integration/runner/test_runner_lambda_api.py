"""Lambda's Invoke API served by the runner, called with boto3's lambda client (tests and functions alike)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

import boto3
import pytest
from botocore.config import Config
from localcloud.lambda_api import function_name_of
from localcloud.runner import LocalCloudRunner

from tests.runner_app.testing import read_jsonl, wait_until

pytestmark = pytest.mark.integration

ECHO_ARN = "arn:aws:lambda:us-east-1:123456789012:function:test-echo"


@pytest.fixture(scope="module")
def lambda_client(runner: LocalCloudRunner) -> Any:
    assert runner.lambda_url is not None
    return boto3.client("lambda", endpoint_url=runner.lambda_url, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing",
                        config=Config(retries={"max_attempts": 1}, read_timeout=30))


def invoke(client: Any, name: str, payload: Any, **kwargs: Any) -> tuple[dict[str, Any], Any]:
    response = client.invoke(FunctionName=name, Payload=json.dumps(payload).encode(), **kwargs)
    body = response["Payload"].read()
    return response, json.loads(body) if body else None


def test_function_names_arns_and_qualifiers() -> None:
    assert function_name_of("test-echo") == "test-echo"
    assert function_name_of("test-echo:$LATEST") == "test-echo"
    assert function_name_of(ECHO_ARN) == "test-echo"
    assert function_name_of(f"{ECHO_ARN}:live") == "test-echo"
    assert function_name_of("123456789012:function:test-echo") == "test-echo"
    assert function_name_of("123456789012:function:test-echo:7") == "test-echo"


@pytest.mark.parametrize("name", ["test-echo", ECHO_ARN, f"{ECHO_ARN}:$LATEST", "123456789012:function:test-echo"])
def test_sync_invoke_returns_the_handlers_result(lambda_client: Any, name: str) -> None:
    marker = uuid.uuid4().hex
    response, payload = invoke(lambda_client, name, {"marker": marker})
    assert response["StatusCode"] == 200 and response["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in response
    body = json.loads(payload["body"])
    assert body["event"] == {"marker": marker}
    assert body["context"]["function_name"] == "test-echo"


def test_the_physical_name_is_the_one_that_resolves(lambda_client: Any) -> None:
    marker = uuid.uuid4().hex
    _, payload = invoke(lambda_client, "runner-test-recorder", {"log": f"phys-{marker}"})
    assert payload == {"recorded": {"log": f"phys-{marker}"}}
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        invoke(lambda_client, "test-recorder", {})  # its catalogue name, not a Lambda function name


def test_function_error_is_unhandled_with_the_error_object(lambda_client: Any) -> None:
    response, payload = invoke(lambda_client, "test-failing", {})
    assert response["StatusCode"] == 200 and response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "ValueError" and payload["errorMessage"] == "sample failure"
    assert isinstance(payload["stackTrace"], list)


def test_unknown_function_is_resource_not_found(lambda_client: Any) -> None:
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException) as caught:
        invoke(lambda_client, "no-such-function", {})
    error = caught.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert error["Error"]["Code"] == "ResourceNotFoundException"
    assert "function:no-such-function" in error["Error"]["Message"]


def test_invalid_json_and_dry_run(lambda_client: Any) -> None:
    with pytest.raises(lambda_client.exceptions.InvalidRequestContentException):
        lambda_client.invoke(FunctionName="test-echo", Payload=b"{not json")
    response = lambda_client.invoke(FunctionName="test-echo", InvocationType="DryRun", Payload=b"{}")
    assert response["StatusCode"] == 204


def test_async_invoke_is_accepted_then_runs(lambda_client: Any, runner: LocalCloudRunner, runner_out) -> None:
    log = f"async-{uuid.uuid4().hex}"
    response, payload = invoke(lambda_client, "runner-test-recorder", {"log": log, "n": 1}, InvocationType="Event")
    assert response["StatusCode"] == 202 and payload is None
    records = wait_until(lambda: read_jsonl(runner_out, log), 20, what="the async invocation")
    assert [r["event"] for r in records] == [{"log": log, "n": 1}]


def test_distinct_async_payloads_all_run(lambda_client: Any, runner_out) -> None:
    log = f"distinct-{uuid.uuid4().hex}"
    for n in range(20):
        invoke(lambda_client, "runner-test-recorder", {"log": log, "n": n}, InvocationType="Event")
    records = wait_until(lambda: len(read_jsonl(runner_out, log)) >= 20 and read_jsonl(runner_out, log), 30,
                         what="20 async invocations")
    assert sorted(r["event"]["n"] for r in records) == list(range(20))


def test_identical_async_invokes_coalesce_without_extra_threads(lambda_client: Any, runner: LocalCloudRunner,
                                                                 runner_out) -> None:
    log = f"nudge-{uuid.uuid4().hex}"
    nudge = {"log": log, "sleep": 0.3}
    before = runner.stats()["lambda"]["async"]["coalesced"]
    threads_before = threading.active_count()
    started = time.monotonic()
    for _ in range(300):
        response, _ = invoke(lambda_client, "runner-test-recorder", nudge, InvocationType="Event")
        assert response["StatusCode"] == 202
    sending = time.monotonic() - started
    assert threading.active_count() - threads_before < 10  # no thread per queued invocation
    wait_until(lambda: runner.stats()["lambda"]["async"]["pending"] == 0, 30, what="the queue to drain")
    runs = len(read_jsonl(runner_out, log))
    # Each run takes 0.3 s; at most one identical invocation waits while the function's executions run, so the
    # runs are bounded by how long the 300 took to send (seconds on a busy machine), far below 300.
    assert runner.functions is not None
    executions = runner.functions.pools[runner.function_key("test-recorder")].spec.max_concurrency
    assert 1 <= runs <= executions * (sending / 0.3 + 2), (runs, sending)
    assert runner.stats()["lambda"]["async"]["coalesced"] - before >= 300 - runs


def test_failed_async_invocation_is_retried_twice(lambda_client: Any, runner_out) -> None:
    log = f"retry-{uuid.uuid4().hex}"
    invoke(lambda_client, "runner-test-recorder", {"log": log, "fail": True}, InvocationType="Event")
    wait_until(lambda: len(read_jsonl(runner_out, log)) >= 3, 20, what="three attempts")
    records = read_jsonl(runner_out, log)
    assert len(records) == 3
    assert records[1]["at"] - records[0]["at"] >= 0.9 and records[2]["at"] - records[1]["at"] >= 1.9


@pytest.mark.parametrize("by", ["name", "arn"])
def test_a_function_invokes_another_one(lambda_client: Any, runner: LocalCloudRunner, by: str) -> None:
    marker = uuid.uuid4().hex
    response, result = invoke(lambda_client, "test-invoker", {"by": by, "payload": {"marker": marker}})
    assert "FunctionError" not in response, result
    assert result["endpoint"] == result["env_endpoint"] == runner.lambda_url
    assert result["status"] == 200 and result["error"] is None
    assert result["target"] == ("test-echo" if by == "name" else ECHO_ARN)
    assert json.loads(result["payload"]["body"])["event"] == {"marker": marker}


def test_a_function_invokes_another_one_asynchronously(lambda_client: Any) -> None:
    _, result = invoke(lambda_client, "test-invoker", {"type": "Event", "payload": {"x": 1}})
    assert result["status"] == 202 and result["payload"] is None


def test_stats_expose_the_url(runner: LocalCloudRunner, lambda_client: Any) -> None:
    invoke(lambda_client, "test-echo", {})
    stats = runner.stats()["lambda"]
    assert stats["url"] == runner.lambda_url and stats["sync_invocations"] >= 1
    assert runner.function_environment("test-echo")["AWS_ENDPOINT_URL_LAMBDA"] == runner.lambda_url
