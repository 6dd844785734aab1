"""Helpers for the sample functions: append JSON lines under $RUNNER_TEST_OUT."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def record(name: str, item: Any) -> None:
    out = Path(os.environ["RUNNER_TEST_OUT"])
    out.mkdir(parents=True, exist_ok=True)
    with (out / f"{name}.jsonl").open("a") as f:
        f.write(json.dumps(item) + "\n")
