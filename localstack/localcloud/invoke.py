"""``python -m localcloud invoke NAME [--payload JSON]``: run one function of the running local cloud now.

Goes through the local Lambda Invoke API (``lambda`` in ``.localcloud/endpoints.json``, or
``AWS_ENDPOINT_URL_LAMBDA``), synchronously, as an operator's ``aws lambda invoke`` would. NAME is the catalogue
name (``analytics-weekly-digests``); the deployed name adds the stage (``smartcourse-dev-…``). ``make report``
uses it to build the scheduled reports on demand.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote

ENDPOINTS = Path(__file__).resolve().parents[2] / ".localcloud" / "endpoints.json"
TIMEOUT_SECONDS = 900


def lambda_endpoint(endpoints: Path = ENDPOINTS) -> str:
    configured = os.environ.get("AWS_ENDPOINT_URL_LAMBDA")
    if configured:
        return configured
    try:
        url = json.loads(endpoints.read_text()).get("lambda")
    except (OSError, ValueError):
        url = None
    if not url:
        raise SystemExit(f"no running local cloud found ({endpoints} names no Lambda endpoint): start it with "
                         "`make run`")
    return str(url)


def deployed_name(name: str, stage: str | None = None) -> str:
    return name if name.startswith("smartcourse-") else f"smartcourse-{stage or os.environ.get('STAGE', 'dev')}-{name}"


def invoke(name: str, payload: Any, endpoint: str | None = None) -> tuple[bool, Any]:
    """(succeeded, the function's answer) of a synchronous invocation."""
    url = f"{(endpoint or lambda_endpoint()).rstrip('/')}/2015-03-31/functions/{quote(deployed_name(name))}/invocations"
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",  # noqa: S310 - http
                                     headers={"Content-Type": "application/json",
                                              "X-Amz-Invocation-Type": "RequestResponse"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 - local endpoint
            body = json.loads(response.read() or b"null")
            return response.headers.get("X-Amz-Function-Error") is None, body
    except urllib.error.HTTPError as error:
        return False, json.loads(error.read() or b"null")
    except urllib.error.URLError as error:
        raise SystemExit(f"the local cloud's Lambda endpoint did not answer ({error.reason}): "
                         "is `make run` up?") from None


def main(name: str, payload: str | None) -> int:
    ok, answer = invoke(name, json.loads(payload) if payload else {})
    print(json.dumps(answer, indent=2))
    if not ok:
        print(f"{deployed_name(name)} failed", file=sys.stderr)
    return 0 if ok else 1
