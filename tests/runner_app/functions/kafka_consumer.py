"""MSK consumer: records every event; fails once on a record whose value is 'boom-once'."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

from common import record


def handler(event: dict[str, Any], context: Any) -> None:
    record("kafka_events", event)
    for records in event["records"].values():
        for r in records:
            value = base64.b64decode(r["value"]).decode()
            marker = Path(os.environ["RUNNER_TEST_OUT"]) / "kafka_boom_seen"
            if value == "boom-once" and not marker.exists():
                marker.write_text("1")
                raise RuntimeError("failing once on purpose")
            record("kafka_records", {"topic": r["topic"], "partition": r["partition"], "offset": r["offset"],
                                     "value": value})
