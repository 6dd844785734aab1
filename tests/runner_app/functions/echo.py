"""Echo: returns the event it got, a few environment values and its pid."""

from __future__ import annotations

import json
import os
from typing import Any

import runner_sample_lib

ENV_KEYS = ("SECRET_ARN", "DB_SECRET_ARN", "BUCKET", "QUEUE_URL", "UNKNOWN_REF", "DATABASE_URL", "DB_NAME",
            "AWS_ENDPOINT_URL", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "_HANDLER",
            "LAMBDA_TASK_ROOT", "KAFKA_BOOTSTRAP_SERVERS", "RUNNER_TEST_OUT", "AWS_REGION")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    body = {
        "event": event,
        "env": {k: os.environ.get(k) for k in ENV_KEYS},
        "pid": os.getpid(),
        "layer": runner_sample_lib.GREETING,
        "context": {
            "function_name": context.function_name,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "invoked_function_arn": context.invoked_function_arn,
            "aws_request_id": context.aws_request_id,
            "remaining_ms": context.get_remaining_time_in_millis(),
            "log_group_name": context.log_group_name,
        },
    }
    return {"statusCode": 200, "headers": {"Content-Type": "application/json", "X-Echo": "1"},
            "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]}, "body": json.dumps(body)}
