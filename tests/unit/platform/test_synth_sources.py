"""The local cloud re-synthesizes when anything its template or assets are made from changes."""

from __future__ import annotations

from pathlib import Path

import pytest
from localcloud.synth import SOURCES, source_hash


@pytest.mark.parametrize("changed", ["docs/openapi/analytics.json", "requirements/analytics.lock",
                                     "functions/analytics/course.py", "migrations/analytics/env.py"])
def test_a_change_to_any_source_changes_the_hash(tmp_path: Path, changed: str) -> None:
    for name in ("docs/openapi/analytics.json", "requirements/analytics.lock", "functions/analytics/course.py",
                 "migrations/analytics/env.py", "app.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("before")
    before = source_hash(tmp_path)
    (tmp_path / changed).write_text("after")
    assert source_hash(tmp_path) != before
    assert any(changed.startswith(source) for source in SOURCES)
