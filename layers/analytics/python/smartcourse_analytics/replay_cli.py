"""``python -m smartcourse_analytics.replay_cli [--force]``: rebuild the analytics read models from the archive.

Two ways, printing the counts as JSON either way:

* here, in this process, when ``ARCHIVE_BUCKET`` is set: the database from ``DATABASE_URL`` (or the
  ``DB_SECRET_ARN``/``DB_HOST`` settings), S3 from the usual AWS environment (``AWS_ENDPOINT_URL`` for an
  emulator);
* else through the ``analytics-replay`` function, which brings its own database and bucket: by default the
  running local cloud's (its Lambda Invoke API, from ``.localcloud/endpoints.json``: ``make replay``), or the
  function named by ``--function`` through Lambda's API in the current AWS account.

Exit status: 0 done, 2 refused (empty archive; ``--force`` replays it anyway), 1 anything else.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

LOCAL_FUNCTION = "smartcourse-dev-analytics-replay"  # the local cloud runs the dev stage
ENDPOINTS_FILE = Path(".localcloud") / "endpoints.json"
# A replay may take the function's whole timeout (15 minutes): the call must not give up before it does.
INVOKE_READ_TIMEOUT_SECONDS = 960
LOCAL_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}


class _Stderr:
    """sys.stderr as it is when written to (not as it was when the handler was set)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


@contextmanager
def _logs_to_stderr() -> Iterator[None]:
    """The service's JSON log lines on stderr while the command runs: stdout carries the counts only."""
    from smartcourse.observability import logger

    handler = logger.registered_handler
    previous = handler.setStream(_Stderr())  # type: ignore[attr-defined]
    try:
        yield
    finally:
        if previous is not None:
            handler.setStream(previous)  # type: ignore[attr-defined]


def _in_process(bucket: str, force: bool, batch_size: int) -> dict[str, Any]:
    from smartcourse.db.engine import database_url, make_engine

    from smartcourse_analytics.archive_store import S3Archive
    from smartcourse_analytics.replay import replay

    engine = make_engine(database_url())
    try:
        return replay(engine, S3Archive(bucket), force=force, batch_size=batch_size).as_dict()
    finally:
        engine.dispose()


def _local_lambda_endpoint(endpoints_file: Path) -> str:
    if not endpoints_file.exists():
        raise SystemExit(f"No local cloud found ({endpoints_file} is missing): start it (make run), or set "
                         "ARCHIVE_BUCKET and DATABASE_URL to replay from here.")
    url = json.loads(endpoints_file.read_text()).get("lambda")
    if not url:
        raise SystemExit(f"{endpoints_file} names no Lambda endpoint: is the local cloud (make run) running?")
    return str(url)


def _invoke(function_name: str, endpoint: str | None, force: bool) -> tuple[bool, Any]:
    import boto3
    from botocore.config import Config

    config = Config(read_timeout=INVOKE_READ_TIMEOUT_SECONDS, retries={"mode": "standard", "total_max_attempts": 1})
    extra: dict[str, Any] = {"endpoint_url": endpoint, **LOCAL_CREDENTIALS} if endpoint else {}
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    client = boto3.client("lambda", region_name=region, config=config, **extra)
    response = client.invoke(FunctionName=function_name, InvocationType="RequestResponse",
                             Payload=json.dumps({"force": force}).encode())
    body = json.loads(response["Payload"].read() or b"null")
    return not response.get("FunctionError"), body


def main(argv: list[str] | None = None) -> int:
    from smartcourse_analytics.replay import DEFAULT_BATCH_SIZE

    parser = argparse.ArgumentParser(prog="replay", description="Rebuild the analytics read models from the "
                                     "event archive.")
    parser.add_argument("--force", action="store_true", help="replay even an empty archive (empties the models)")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE,
                        help="events per ingest call (in-process only)")
    parser.add_argument("--function", help="invoke this deployed replay function (AWS) instead of the local cloud's")
    parser.add_argument("--endpoints", type=Path, default=ENDPOINTS_FILE, help="the local cloud's endpoints.json")
    args = parser.parse_args(argv)

    bucket = os.environ.get("ARCHIVE_BUCKET")
    if bucket and not args.function:
        from smartcourse_analytics.replay import ArchiveEmpty

        try:
            with _logs_to_stderr():
                result = _in_process(bucket, args.force, args.batch_size)
        except ArchiveEmpty as exc:
            print(f"refused: {exc}", file=sys.stderr)
            return 2
        print(json.dumps(result, indent=2))
        return 0

    if args.function:
        ok, body = _invoke(args.function, None, args.force)
    else:
        ok, body = _invoke(LOCAL_FUNCTION, _local_lambda_endpoint(args.endpoints), args.force)
    if ok:
        print(json.dumps(body, indent=2))
        return 0
    error = body if isinstance(body, dict) else {"errorMessage": str(body)}
    print(f"{error.get('errorType', 'error')}: {error.get('errorMessage', body)}", file=sys.stderr)
    return 2 if error.get("errorType") in ("ArchiveEmpty", "ArchiveBehind") else 1


if __name__ == "__main__":
    sys.exit(main())
