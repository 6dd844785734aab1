"""Records every event it gets (optionally after sleeping ``sleep`` seconds, or failing when ``fail`` is set)."""

from __future__ import annotations

import os
import time
from typing import Any

from common import record


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    record(str(event.get("log", "recorded")), {"event": event, "pid": os.getpid(), "at": time.time()})
    time.sleep(float(event.get("sleep", 0)))
    if event.get("fail"):
        raise RuntimeError("recorder asked to fail")
    return {"recorded": event}
