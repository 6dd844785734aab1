"""Burns ?ms=N of CPU in each of ?threads=T threads (GIL released, like a password hash), recording when it ran."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from typing import Any

from common import record


def _burn(ms: float) -> None:
    until = time.thread_time() + ms / 1000
    while time.thread_time() < until:
        hashlib.pbkdf2_hmac("sha256", b"password", b"salt", 2_000)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    query = event.get("queryStringParameters") or {}
    ms, threads = float(query.get("ms", "0")), int(query.get("threads", "1"))
    started = time.time()
    workers = [threading.Thread(target=_burn, args=(ms,)) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    record("spin", {"pid": os.getpid(), "started": started, "ended": time.time()})
    return {"statusCode": 200, "body": json.dumps({"pid": os.getpid()})}
