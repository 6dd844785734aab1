"""Calls another function through boto3's lambda client (Lambda -> Lambda through the runner's Invoke API)."""

from __future__ import annotations

import json
import os
from typing import Any

import boto3


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    client = boto3.client("lambda")
    target = os.environ["TARGET_ARN"] if event.get("by") == "arn" else os.environ["TARGET_FUNCTION"]
    response = client.invoke(FunctionName=target, InvocationType=event.get("type", "RequestResponse"),
                             Payload=json.dumps(event.get("payload", {})).encode())
    body = response["Payload"].read()
    return {"status": response["StatusCode"], "target": target,
            "endpoint": client.meta.endpoint_url, "env_endpoint": os.environ.get("AWS_ENDPOINT_URL_LAMBDA"),
            "error": response.get("FunctionError"), "payload": json.loads(body) if body else None}
