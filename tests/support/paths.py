"""The source folders a subprocess needs on PYTHONPATH to import what the tests import (as the Makefile sets)."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIRS: tuple[Path, ...] = (
    ROOT, *sorted((ROOT / "layers").glob("*/python")), ROOT / "events", ROOT / "localstack", ROOT / "functions",
)


def pythonpath() -> str:
    return os.pathsep.join(str(p) for p in SOURCE_DIRS)
